// Writes the seed corpus of the CRI request fuzzers: requests shaped like the ones kubelet sends
// (names, labels, annotations, log paths as kubelet sets them), some carrying fields of the real
// CRI that sigshim's subset (pkg/cri/api.proto) does not name, encoded here as unknown fields.
//   cmake --build build-asan --target cri_fuzz_seeds && build-asan/test/fuzz/cri/cri_fuzz_seeds test/fuzz/cri/corpus
// The seeds are committed; run this again only to change them.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"
#include "pkg/cri/api.pb.h"

namespace {

constexpr char kPodUid[] = "5f3a2b1c-8d4e-4f6a-9b7c-0d1e2f3a4b5c";
constexpr char kSandboxId[] = "c1f4d3a2b5e6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2";
constexpr char kImageId[] = "sha256:4a5f0e3b9c2d1e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f";

void FillPod(runtime::v1::PodSandboxConfig* pod, bool unknown) {
  pod->mutable_metadata()->set_name("web-7d4b9c8f6-x2k9p");
  pod->mutable_metadata()->set_uid(kPodUid);
  pod->mutable_metadata()->set_namespace_("shop");
  pod->mutable_metadata()->set_attempt(0);
  pod->set_hostname("web-7d4b9c8f6-x2k9p");
  pod->set_log_directory(std::string("/var/log/pods/shop_web-7d4b9c8f6-x2k9p_") + kPodUid);
  (*pod->mutable_labels())["app"] = "web";
  (*pod->mutable_labels())["io.kubernetes.pod.name"] = "web-7d4b9c8f6-x2k9p";
  (*pod->mutable_labels())["io.kubernetes.pod.namespace"] = "shop";
  (*pod->mutable_labels())["io.kubernetes.pod.uid"] = kPodUid;
  (*pod->mutable_annotations())["kubernetes.io/config.source"] = "api";
  pod->mutable_linux()->set_cgroup_parent("kubepods-besteffort-pod5f3a2b1c.slice");
  pod->mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(runtime::v1::CONTAINER);
  if (unknown) {
    // DNSConfig dns_config = 4 {servers = 1, searches = 2, options = 3}.
    google::protobuf::UnknownFieldSet dns;
    dns.AddLengthDelimited(1, "10.96.0.10");
    dns.AddLengthDelimited(2, "shop.svc.cluster.local");
    dns.AddLengthDelimited(2, "svc.cluster.local");
    dns.AddLengthDelimited(3, "ndots:5");
    std::string bytes;
    dns.SerializeToString(&bytes);
    pod->GetReflection()->MutableUnknownFields(pod)->AddLengthDelimited(4, bytes);
    // PortMapping port_mappings = 5 {protocol = 1, container_port = 2, host_port = 3}.
    google::protobuf::UnknownFieldSet port;
    port.AddVarint(2, 8080);
    port.AddVarint(3, 30080);
    bytes.clear();
    port.SerializeToString(&bytes);
    pod->GetReflection()->MutableUnknownFields(pod)->AddLengthDelimited(5, bytes);
  }
}

void Write(const std::filesystem::path& dir, const std::string& name, const google::protobuf::Message& message) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out << message.SerializeAsString();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus folder>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];

  runtime::v1::PullImageRequest pull;
  pull.mutable_image()->set_image("registry.example:5000/shop/web:1.4.2");
  FillPod(pull.mutable_sandbox_config(), false);
  Write(root / "pull_image", "by_tag", pull);
  pull.mutable_image()->set_image(
      "registry.example:5000/shop/web@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae");
  pull.mutable_auth()->set_username("puller");
  pull.mutable_auth()->set_password("not-a-real-password");
  pull.mutable_auth()->set_server_address("registry.example:5000");
  (*pull.mutable_image()->mutable_annotations())["io.kubernetes.cri.runtime-handler"] = "runc";
  pull.mutable_image()->set_user_specified_image("registry.example:5000/shop/web:1.4.2");
  Write(root / "pull_image", "by_digest_with_auth", pull);
  pull.clear_auth();
  FillPod(pull.mutable_sandbox_config(), true);
  Write(root / "pull_image", "unknown_pod_fields", pull);

  runtime::v1::CreateContainerRequest create;
  create.set_pod_sandbox_id(kSandboxId);
  runtime::v1::ContainerConfig* config = create.mutable_config();
  config->mutable_metadata()->set_name("web");
  config->mutable_image()->set_image(kImageId);
  config->mutable_image()->set_user_specified_image("registry.example:5000/shop/web:1.4.2");
  config->add_command("/bin/web");
  config->add_args("--listen=:8080");
  config->set_working_dir("/srv");
  runtime::v1::KeyValue* env = config->add_envs();
  env->set_key("KUBERNETES_SERVICE_HOST");
  env->set_value("10.96.0.1");
  (*config->mutable_labels())["io.kubernetes.container.name"] = "web";
  (*config->mutable_annotations())["io.kubernetes.container.restartCount"] = "0";
  config->set_log_path("web/0.log");
  FillPod(create.mutable_sandbox_config(), false);
  Write(root / "create_container", "kubelet", create);
  {
    // Mount mounts = 7 {container_path = 1, host_path = 2, readonly = 3}, stdin = 12, tty = 14,
    // LinuxContainerConfig linux = 15 {resources = 1 {cpu_shares = 2, memory_limit_in_bytes = 3}}.
    google::protobuf::UnknownFieldSet* unknown = config->GetReflection()->MutableUnknownFields(config);
    google::protobuf::UnknownFieldSet mount;
    mount.AddLengthDelimited(1, "/var/run/secrets/kubernetes.io/serviceaccount");
    mount.AddLengthDelimited(2, "/var/lib/kubelet/pods/5f3a2b1c/volumes/kubernetes.io~projected/kube-api-access");
    mount.AddVarint(3, 1);
    std::string bytes;
    mount.SerializeToString(&bytes);
    unknown->AddLengthDelimited(7, bytes);
    unknown->AddVarint(12, 0);
    unknown->AddVarint(14, 1);
    google::protobuf::UnknownFieldSet resources;
    resources.AddVarint(2, 2);
    resources.AddVarint(3, 134217728);
    bytes.clear();
    resources.SerializeToString(&bytes);
    google::protobuf::UnknownFieldSet linux;
    linux.AddLengthDelimited(1, bytes);
    bytes.clear();
    linux.SerializeToString(&bytes);
    unknown->AddLengthDelimited(15, bytes);
    // ImageSpec fields a newer CRI may add.
    config->mutable_image()->GetReflection()->MutableUnknownFields(config->mutable_image())
        ->AddLengthDelimited(21, "future");
  }
  FillPod(create.mutable_sandbox_config(), true);
  Write(root / "create_container", "unknown_fields", create);
  config->mutable_image()->set_image("registry.example:5000/shop/web:1.4.2");
  Write(root / "create_container", "by_tag", create);

  runtime::v1::RunPodSandboxRequest sandbox;
  FillPod(sandbox.mutable_config(), false);
  Write(root / "run_pod_sandbox", "kubelet", sandbox);
  sandbox.set_runtime_handler("runc");
  FillPod(sandbox.mutable_config(), true);
  Write(root / "run_pod_sandbox", "unknown_fields", sandbox);

  runtime::v1::RemoveImageRequest remove;
  remove.mutable_image()->set_image(kImageId);
  Write(root / "remove_image", "by_id", remove);
  remove.mutable_image()->set_image("registry.example:5000/shop/web:1.4.2");
  Write(root / "remove_image", "by_tag", remove);
  return 0;
}
