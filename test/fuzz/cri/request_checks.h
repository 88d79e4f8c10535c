// The properties every CRI request fuzzer checks (test/fuzz/cri/*_fuzzer.cc), for one request type
// and the fields its enforcement hook (shim/enforcement_hooks.cc) reads and rewrites:
//
//  1. DecodeMessage (shim/hooks.h) gives the same answer whether gRPC hands it the bytes in one
//     slice or in many, leaves the buffer it reads unconsumed, and refuses what protobuf refuses
//     with InvalidArgument naming the request type.
//  2. Each field the hook decides on has the value that a second, independent reading of the wire
//     format gives (this file's WireValues: last occurrence wins, nested messages merge, fields of
//     the wrong wire type are not that field), which is how the runtime's own decoder reads the
//     bytes sigshim forwards unchanged (RunPodSandbox, RemoveImage).
//  3. After the hook's rewrite (the image set to the pinned one, re-encoded as the hook encodes it)
//     the request decodes again to the same message: every other field and every unknown field
//     (fields of the real CRI that sigshim's subset in pkg/cri/api.proto does not name) survive,
//     and the forwarded bytes name the image exactly once, as the pinned one, and name the pod,
//     namespace and container the decision was about.
// A property that does not hold aborts, so libFuzzer reports the input.
#ifndef SIGSHIM_TEST_FUZZ_CRI_REQUEST_CHECKS_H_
#define SIGSHIM_TEST_FUZZ_CRI_REQUEST_CHECKS_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/wire_format_lite.h"
#include "shim/hooks.h"

namespace sigshim::fuzz {

// A chain of field numbers from the request down to a string field, e.g. {2, 2, 1} for
// CreateContainerRequest.config.image.image.
using FieldPath = std::vector<int>;

// What a hook does with its request.
struct RequestSpec {
  // The string fields the hook reads to decide (image, pod, namespace, container, credentials).
  std::vector<FieldPath> read;
  // The field the hook rewrites before forwarding (the image); empty when it forwards the
  // original bytes.
  FieldPath rewrite;
};

[[noreturn]] inline void Fail(const char* what) {
  std::fprintf(stderr, "CRI request property violated: %s\n", what);
  std::abort();
}

// Appends to `out` every length-delimited occurrence of `path` in the wire-format `bytes`, in the
// order a decoder meets them; fields of another wire type are skipped (protobuf keeps them as
// unknown fields: they are not the named field). False when the bytes are not well-formed wire
// format down that path.
inline bool WireValues(absl::string_view bytes, const FieldPath& path, size_t depth, std::vector<std::string>* out) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  in.SetRecursionLimit(200);
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return in.ConsumedEntireMessage();  // the end, or not a tag
    const int number = static_cast<int>(tag >> 3);
    const int wire_type = static_cast<int>(tag & 7);
    if (number == path[depth] && wire_type == 2) {
      uint32_t length = 0;
      std::string value;
      if (!in.ReadVarint32(&length) || !in.ReadString(&value, static_cast<int>(length))) return false;
      if (depth + 1 == path.size()) {
        out->push_back(std::move(value));
      } else if (!WireValues(value, path, depth + 1, out)) {
        return false;
      }
      continue;
    }
    if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) return false;
  }
}

// Returns the value a decoder reading `bytes` gives the string field at `path`: the last
// occurrence, or "" when there is none.
inline std::string WireValue(absl::string_view bytes, const FieldPath& path) {
  std::vector<std::string> values;
  if (!WireValues(bytes, path, 0, &values)) Fail("bytes that protobuf decoded are not well-formed wire format");
  return values.empty() ? std::string() : values.back();
}

// Returns the string field at `path` of `message` (through reflection), or "" when a message on
// the way is unset.
inline std::string FieldValue(const google::protobuf::Message& message, const FieldPath& path) {
  const google::protobuf::Message* current = &message;
  for (size_t i = 0; i < path.size(); ++i) {
    const google::protobuf::FieldDescriptor* field = current->GetDescriptor()->FindFieldByNumber(path[i]);
    if (field == nullptr) Fail("a field path names a field the proto does not have");
    const google::protobuf::Reflection* reflection = current->GetReflection();
    if (i + 1 == path.size()) return reflection->GetString(*current, field);
    if (!reflection->HasField(*current, field)) return "";
    current = &reflection->GetMessage(*current, field);
  }
  return "";
}

// Sets the string field at `path` of `message`, creating the messages on the way.
inline void SetFieldValue(google::protobuf::Message* message, const FieldPath& path, const std::string& value) {
  for (size_t i = 0; i < path.size(); ++i) {
    const google::protobuf::FieldDescriptor* field = message->GetDescriptor()->FindFieldByNumber(path[i]);
    if (field == nullptr) Fail("a field path names a field the proto does not have");
    if (i + 1 == path.size()) {
      message->GetReflection()->SetString(message, field, value);
      return;
    }
    message = message->GetReflection()->MutableMessage(message, field);
  }
}

// Sets the field at `path` of `message` back to what it is in `original`: the string, or no
// message at all from the first level `original` does not have.
inline void RestoreFieldValue(google::protobuf::Message* message, const google::protobuf::Message& original,
                              const FieldPath& path) {
  const google::protobuf::Message* from = &original;
  for (size_t i = 0; i < path.size(); ++i) {
    const google::protobuf::FieldDescriptor* field = message->GetDescriptor()->FindFieldByNumber(path[i]);
    if (field == nullptr) Fail("a field path names a field the proto does not have");
    const google::protobuf::Reflection* reflection = message->GetReflection();
    if (i + 1 == path.size()) {
      reflection->SetString(message, field, from->GetReflection()->GetString(*from, field));
      return;
    }
    if (!from->GetReflection()->HasField(*from, field)) {
      reflection->ClearField(message, field);
      return;
    }
    from = &from->GetReflection()->GetMessage(*from, field);
    message = reflection->MutableMessage(message, field);
  }
}

// Appends the unknown fields of `message` and of every message inside it, in a fixed order.
inline void CollectUnknown(const google::protobuf::Message& message, std::string* out) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::string own;
  reflection->GetUnknownFields(message).SerializeToString(&own);
  out->append(std::to_string(own.size())).append(":").append(own);
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        CollectUnknown(reflection->GetRepeatedMessage(message, field, i), out);
      }
    } else {
      CollectUnknown(reflection->GetMessage(message, field), out);
    }
  }
}

// Returns `message` in deterministic wire form (map entries sorted), unknown fields included.
inline std::string Canonical(const google::protobuf::Message& message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream out(&stream);
  out.SetSerializationDeterministic(true);
  if (!message.SerializeToCodedStream(&out)) Fail("a decoded message does not serialize");
  out.Trim();
  return bytes;
}

// Returns `bytes` as gRPC hands them over: in slices of `chunk` bytes (one slice when 0).
inline grpc::ByteBuffer Slices(absl::string_view bytes, size_t chunk) {
  std::vector<grpc::Slice> slices;
  if (chunk == 0) chunk = bytes.size() + 1;
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    absl::string_view part = bytes.substr(at, chunk);
    slices.emplace_back(part.data(), part.size());
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// Returns the wire form of `message` as the enforcement hooks encode a rewritten request
// (SerializeToString into one slice).
inline grpc::ByteBuffer EncodeLikeTheHook(const google::protobuf::Message& message) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) Fail("a rewritten request does not encode");
  grpc::Slice slice(std::move(bytes));
  return grpc::ByteBuffer(&slice, 1);
}

inline std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) Fail("a byte buffer cannot be read");
  std::string bytes;
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

// Checks properties 1-3 above on one fuzzer input taken as a `Request`.
template <typename Request>
int CheckRequest(const uint8_t* data, size_t size, const RequestSpec& spec) {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 is refused, not worth a line each time
    return true;
  }();
  (void)quiet;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  // 1. One slice or many, the same answer; the buffer is left as it was.
  Request whole;
  const absl::Status whole_status = shim::DecodeMessage(Slices(bytes, 0), &whole);
  const size_t chunk = size == 0 ? 1 : 1 + data[size - 1] % 13;
  const grpc::ByteBuffer sliced = Slices(bytes, chunk);
  Request pieces;
  const absl::Status pieces_status = shim::DecodeMessage(sliced, &pieces);
  Request again;
  const absl::Status again_status = shim::DecodeMessage(sliced, &again);
  if (sliced.Length() != size || Flatten(sliced) != bytes) Fail("DecodeMessage consumed its buffer");
  Request reference;
  const bool reference_ok = reference.ParseFromArray(data, static_cast<int>(size));
  if (whole_status.ok() != reference_ok || pieces_status.ok() != reference_ok || again_status.ok() != reference_ok) {
    Fail("DecodeMessage and protobuf disagree on whether the bytes are a request");
  }
  if (!reference_ok) {
    if (whole_status.code() != absl::StatusCode::kInvalidArgument ||
        !absl::StrContains(whole_status.message(), Request::descriptor()->full_name())) {
      Fail("a request that does not decode is not refused with InvalidArgument naming its type");
    }
    return 0;
  }
  const std::string canonical = Canonical(reference);
  if (Canonical(whole) != canonical || Canonical(pieces) != canonical || Canonical(again) != canonical) {
    Fail("DecodeMessage gives a different request for the same bytes");
  }

  // 2. What the hook decides on is what a decoder of the forwarded bytes reads.
  for (const FieldPath& path : spec.read) {
    if (FieldValue(whole, path) != WireValue(bytes, path)) Fail("a field the hook reads differs from the wire");
  }
  if (spec.rewrite.empty()) return 0;

  // 3. Rewrite the image as the hook does, encode, decode: only the image changed.
  static const std::string kPinned[] = {
      "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      "registry.example:5000/team/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      "-a-name-long-enough-that-the-lengths-of-the-messages-around-it-need-another-varint-byte-"
      "0123456789012345678901234567890123456789"};
  const std::string& pinned = kPinned[size % 2];
  Request rewritten = whole;
  SetFieldValue(&rewritten, spec.rewrite, pinned);
  const grpc::ByteBuffer forwarded = EncodeLikeTheHook(rewritten);
  Request decoded;
  if (!shim::DecodeMessage(forwarded, &decoded).ok()) Fail("the rewritten request does not decode");
  if (Canonical(decoded) != Canonical(rewritten)) Fail("the round trip changed the rewritten request");
  Request restored = decoded;
  RestoreFieldValue(&restored, whole, spec.rewrite);
  std::string unknown_before;
  std::string unknown_after;
  CollectUnknown(whole, &unknown_before);
  CollectUnknown(restored, &unknown_after);
  if (unknown_before != unknown_after) Fail("the round trip lost or changed unknown fields");
  if (Canonical(restored) != canonical) Fail("the round trip changed a field other than the image");

  const std::string wire = Flatten(forwarded);
  std::vector<std::string> images;
  if (!WireValues(wire, spec.rewrite, 0, &images)) Fail("the forwarded bytes are not well-formed wire format");
  if (images.size() != 1 || images[0] != pinned) Fail("the forwarded bytes do not name the pinned image exactly once");
  for (const FieldPath& path : spec.read) {
    if (path == spec.rewrite) continue;
    if (WireValue(wire, path) != FieldValue(whole, path)) Fail("the forwarded bytes name another pod or container");
  }
  return 0;
}

}  // namespace sigshim::fuzz

#endif  // SIGSHIM_TEST_FUZZ_CRI_REQUEST_CHECKS_H_
