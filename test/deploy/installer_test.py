#!/usr/bin/python3
"""config/kubernetes/installer.sh run against a temporary root folder with a fake systemctl.

Usage: installer_test.py --source-dir REPO --sigshim BUILT_BINARY [unittest arguments]

The fake systemctl records each call, together with whether kubelet's drop-in and sigshim's unit
exist at that moment, so that the order of what the installer does to the host can be checked.
"""
import argparse
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None

DROPIN = "etc/systemd/system/kubelet.service.d/90-sigshim.conf"
UNIT = "etc/systemd/system/sigshim.service"
BIN = "usr/local/bin/sigshim"
KUBEADM_DROPIN = "etc/systemd/system/kubelet.service.d/10-kubeadm.conf"

KEY = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhCI8EE2vEfXoGssgs0t1XodNDe6f
bFsx0VWONmty7iwBp08SVy77D7OZAKzQ2kFEHC0E2r7SZX6GxKk4DpVuRA==
-----END PUBLIC KEY-----
"""

CONFIG = """[enforcement]
mode = "{mode}"

[[keys]]
name = "release"
path = "keys/release.pub"

[[policy]]
name = "prod"
images = ["registry.example.com/prod/**"]
require = ["release"]
"""

# Records "ARGS | dropin=yes|no unit=yes|no"; `is-active` answers FAKE_SIGSHIM_ACTIVE (0 = active).
FAKE_SYSTEMCTL = """#!/bin/sh
d=no; [ -f "$ROOT/{dropin}" ] && d=yes
u=no; [ -f "$ROOT/{unit}" ] && u=yes
echo "$* | dropin=$d unit=$u" >> "$FAKE_SYSTEMCTL_LOG"
case "$1" in is-active) exit "${{FAKE_SIGSHIM_ACTIVE:-0}}" ;; esac
exit 0
"""


def read(path):
    with open(path, "rb") as f:
        return f.read()


def read_if_there(path):
    """Returns the file's bytes, or None while sync swaps the folder (moved aside, then the new one
    moved in: a sigshim starting in between finds no config and fails closed until the retry)."""
    try:
        return read(path)
    except FileNotFoundError:
        return None


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w" if isinstance(text, str) else "wb") as f:
        f.write(text)
    os.chmod(path, mode)


def files_under(root):
    """Returns every file and symlink below root, relative to it, sorted."""
    out = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


class InstallerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sigshim-installer-test.")
        self.root = os.path.join(self.tmp, "host")
        self.src = os.path.join(self.tmp, "image")
        self.configmap = os.path.join(self.tmp, "configmap")
        self.calls_log = os.path.join(self.tmp, "systemctl.log")
        os.makedirs(self.root)
        os.makedirs(self.src)
        shutil.copy(ARGS.sigshim, os.path.join(self.src, "sigshim"))
        shutil.copy(os.path.join(ARGS.source_dir, "systemd/sigshim.service"), self.src)
        shutil.copy(os.path.join(ARGS.source_dir, "systemd/kubelet-sigshim.conf"), self.src)
        self.fake = os.path.join(self.tmp, "fake-systemctl")
        write(self.fake, FAKE_SYSTEMCTL.format(dropin=DROPIN, unit=UNIT), 0o755)
        # A kubeadm node: kubelet's own drop-in exists and must survive install and uninstall.
        self.kubeadm = ("[Service]\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nExecStart=\n"
                        "ExecStart=/usr/bin/kubelet $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n")
        write(self.h(KUBEADM_DROPIN), self.kubeadm)
        self.generation = 0
        self.publish(CONFIG.format(mode="enforce"))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def h(self, rel):
        """Returns the path of host file rel under the temporary root."""
        return os.path.join(self.root, rel)

    def publish(self, config, key=KEY):
        """Lays the ConfigMap out as kubelet mounts it: ..data → a timestamped folder, then links."""
        self.generation += 1
        gen = "..2026_11_22_%02d" % self.generation
        write(os.path.join(self.configmap, gen, "config.toml"), config)
        if key is not None:
            write(os.path.join(self.configmap, gen, "keys/release.pub"), key)
        tmp_link = os.path.join(self.configmap, "..data_tmp")
        os.symlink(gen, tmp_link)
        os.replace(tmp_link, os.path.join(self.configmap, "..data"))
        for name in ("config.toml", "keys"):
            link = os.path.join(self.configmap, name)
            if not os.path.lexists(link):
                os.symlink("..data/" + name, link)

    def run_installer(self, *args, active=0, expect=0, env=None):
        e = dict(os.environ)
        e.update(ROOT=self.root, SYSTEMCTL="/bin/sh " + self.fake, SIGSHIM_SRC=self.src,
                 SIGSHIM_CONFIG_SRC=self.configmap, FAKE_SYSTEMCTL_LOG=self.calls_log,
                 FAKE_SIGSHIM_ACTIVE=str(active))
        e.update(env or {})
        p = subprocess.run([os.path.join(ARGS.source_dir, "config/kubernetes/installer.sh")] + list(args),
                           env=e, capture_output=True, text=True, timeout=60)
        if expect is not None:
            self.assertEqual(p.returncode, expect, "installer %s: stdout=%s stderr=%s" % (args, p.stdout, p.stderr))
        return p

    def calls(self):
        """Returns the recorded systemctl calls and clears the record."""
        if not os.path.exists(self.calls_log):
            return []
        with open(self.calls_log) as f:
            lines = [l.rstrip("\n") for l in f]
        os.remove(self.calls_log)
        return lines

    def install(self):
        self.run_installer("sync")
        self.run_installer("install")
        self.calls()

    # --- install -------------------------------------------------------------------------------

    def test_install_writes_each_file_then_restarts_kubelet_once_sigshim_serves(self):
        self.run_installer("sync")
        self.assertEqual(self.calls(), [], "nothing to reload before sigshim is installed")
        self.run_installer("install")
        self.assertEqual(self.calls(), [
            "daemon-reload | dropin=no unit=yes",
            "enable sigshim.service | dropin=no unit=yes",
            "restart sigshim.service | dropin=no unit=yes",
            "is-active --quiet sigshim.service | dropin=no unit=yes",
            "daemon-reload | dropin=yes unit=yes",
            "restart kubelet.service | dropin=yes unit=yes",
        ])
        # Every file the installer wrote, and nothing else (no staging or temporary files left).
        self.assertEqual(files_under(self.root), sorted([
            BIN, UNIT, DROPIN, KUBEADM_DROPIN, "etc/sigshim/config.toml", "etc/sigshim/keys/release.pub"]))
        self.assertEqual(read(self.h(BIN)), read(ARGS.sigshim))
        self.assertEqual(stat.S_IMODE(os.stat(self.h(BIN)).st_mode), 0o755)
        self.assertEqual(read(self.h(DROPIN)), read(os.path.join(ARGS.source_dir, "systemd/kubelet-sigshim.conf")))
        unit = read(self.h(UNIT)).decode()
        self.assertIn("\nExecStart=/usr/local/bin/sigshim --config /etc/sigshim/config.toml\n", unit)
        self.assertNotIn("/usr/bin/sigshim", unit)
        self.assertEqual(unit, read(os.path.join(ARGS.source_dir, "systemd/sigshim.service")).decode()
                         .replace("/usr/bin/sigshim", "/usr/local/bin/sigshim"))
        self.assertEqual(read(self.h("etc/sigshim/config.toml")).decode(), CONFIG.format(mode="enforce"))
        self.assertEqual(read(self.h("etc/sigshim/keys/release.pub")).decode(), KEY)
        self.assertEqual(read(self.h(KUBEADM_DROPIN)).decode(), self.kubeadm)
        # The installed binary accepts the installed configuration.
        p = subprocess.run([self.h(BIN), "check-config", "--config", self.h("etc/sigshim/config.toml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_install_again_changes_nothing_and_leaves_kubelet_alone(self):
        self.install()
        before = {f: read(self.h(f)) for f in files_under(self.root)}
        self.run_installer("install")
        self.assertEqual(self.calls(), [
            "daemon-reload | dropin=yes unit=yes",
            "enable sigshim.service | dropin=yes unit=yes",
            "start sigshim.service | dropin=yes unit=yes",
            "is-active --quiet sigshim.service | dropin=yes unit=yes",
        ])
        self.assertEqual({f: read(self.h(f)) for f in files_under(self.root)}, before)

    def test_update_with_a_new_binary_restarts_sigshim_but_not_kubelet(self):
        self.install()
        new_binary = read(ARGS.sigshim) + b"\0sigshim-update-marker\0"
        write(os.path.join(self.src, "sigshim"), new_binary, 0o755)
        self.run_installer("install")
        self.assertEqual(read(self.h(BIN)), new_binary)
        calls = self.calls()
        self.assertIn("restart sigshim.service | dropin=yes unit=yes", calls)
        self.assertNotIn("restart kubelet.service | dropin=yes unit=yes", calls)
        self.assertLess(calls.index("daemon-reload | dropin=yes unit=yes"),
                        calls.index("restart sigshim.service | dropin=yes unit=yes"))
        self.assertFalse([f for f in files_under(self.root) if "sigshim-new" in f])

    def test_install_leaves_kubelet_alone_when_sigshim_does_not_come_up(self):
        self.run_installer("sync")
        p = self.run_installer("install", active=3, expect=1)
        self.assertIn("sigshim is not active after start", p.stderr)
        self.assertIn("kubelet left as it was", p.stderr)
        self.assertFalse(os.path.exists(self.h(DROPIN)))
        self.assertFalse([c for c in self.calls() if "kubelet" in c])

    def make_plain_kubelet(self, endpoint):
        """Replaces the kubeadm setup by a kubelet unit of its own, configured by its KubeletConfiguration."""
        os.remove(self.h(KUBEADM_DROPIN))
        os.rmdir(os.path.dirname(self.h(KUBEADM_DROPIN)))
        write(self.h("usr/lib/systemd/system/kubelet.service"),
              "[Service]\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --node-ip=10.0.0.7\n")
        write(self.h("var/lib/kubelet/config.yaml"), "kind: KubeletConfiguration\ncontainerRuntimeEndpoint: %s\n" % endpoint)

    def test_install_leaves_a_kubelet_already_configured_for_sigshim_alone(self):
        self.make_plain_kubelet("unix:///run/sigshim/cri.sock")
        self.run_installer("sync")
        p = self.run_installer("install")
        self.assertIn("kubelet already uses sigshim (/var/lib/kubelet/config.yaml )", p.stderr)
        self.assertFalse(os.path.exists(self.h(DROPIN)))
        calls = self.calls()
        self.assertIn("restart sigshim.service | dropin=no unit=yes", calls)
        self.assertFalse([c for c in calls if "kubelet" in c])

    def test_install_does_not_put_a_kubeadm_dropin_on_another_kubelet(self):
        # The drop-in would replace this kubelet's ExecStart and lose --node-ip: refused, with the fix.
        self.make_plain_kubelet("unix:///run/containerd/containerd.sock")
        self.run_installer("sync")
        p = self.run_installer("install", expect=1)
        self.assertIn("kubelet is not started the kubeadm way", p.stderr)
        self.assertIn("containerRuntimeEndpoint: unix:///run/sigshim/cri.sock", p.stderr)
        self.assertFalse(os.path.exists(self.h(DROPIN)))
        calls = self.calls()
        self.assertIn("restart sigshim.service | dropin=no unit=yes", calls)
        self.assertFalse([c for c in calls if "kubelet" in c])

    def test_install_finds_kubeadms_dropin_where_the_package_puts_it(self):
        # pkgs.k8s.io's kubeadm package ships 10-kubeadm.conf under /usr/lib/systemd/system.
        os.renames(self.h(KUBEADM_DROPIN), self.h("usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"))
        self.run_installer("sync")
        self.run_installer("install")
        self.assertTrue(os.path.isfile(self.h(DROPIN)))
        self.assertIn("restart kubelet.service | dropin=yes unit=yes", self.calls())

    def test_install_leaves_kubelet_alone_when_systemctl_start_fails(self):
        failing = os.path.join(self.tmp, "failing-systemctl")
        write(failing, "#!/bin/sh\n/bin/sh %s \"$@\"\n[ \"$1\" != restart ] || exit 1\n" % self.fake, 0o755)
        self.run_installer("sync")
        p = self.run_installer("install", expect=1, env={"SYSTEMCTL": "/bin/sh " + failing})
        self.assertIn("sigshim is not active after start", p.stderr)
        self.assertFalse(os.path.exists(self.h(DROPIN)))
        calls = self.calls()
        self.assertEqual(calls[-1], "restart sigshim.service | dropin=no unit=yes")
        self.assertFalse([c for c in calls if "kubelet" in c])

    def test_install_without_a_configuration_is_refused(self):
        p = self.run_installer("install", expect=1)
        self.assertIn("/etc/sigshim/config.toml does not exist; run sync first", p.stderr)
        self.assertEqual(self.calls(), [])
        self.assertEqual(files_under(self.root), [KUBEADM_DROPIN])

    # --- sync ----------------------------------------------------------------------------------

    def test_sync_of_a_valid_change_replaces_the_config_and_reloads(self):
        self.install()
        self.publish(CONFIG.format(mode="audit"))
        p = self.run_installer("sync")
        self.assertIn("wrote /etc/sigshim", p.stderr)
        self.assertEqual(read(self.h("etc/sigshim/config.toml")).decode(), CONFIG.format(mode="audit"))
        self.assertEqual(self.calls(), [
            "is-active --quiet sigshim.service | dropin=yes unit=yes",
            "reload sigshim.service | dropin=yes unit=yes",
        ])
        self.assertFalse([f for f in os.listdir(self.h("etc")) if f.startswith(".sigshim")])

    def test_sync_of_an_unchanged_config_does_nothing(self):
        self.install()
        p = self.run_installer("sync")
        self.assertEqual(p.stderr, "")
        self.assertEqual(self.calls(), [])

    def test_sync_does_not_reload_a_stopped_sigshim(self):
        self.install()
        self.publish(CONFIG.format(mode="audit"))
        self.run_installer("sync", active=3)
        self.assertEqual(self.calls(), ["is-active --quiet sigshim.service | dropin=yes unit=yes"])
        self.assertEqual(read(self.h("etc/sigshim/config.toml")).decode(), CONFIG.format(mode="audit"))

    def test_sync_of_an_invalid_config_keeps_the_old_one_and_names_the_problem(self):
        self.install()
        self.publish(CONFIG.format(mode="enforcing"))
        p = self.run_installer("sync", expect=1)
        self.assertIn(os.path.join(self.configmap, "config.toml") + ":2: enforcement.mode", p.stderr)
        self.assertIn("the new configuration is invalid", p.stderr)
        self.assertIn("not installed, /etc/sigshim unchanged", p.stderr)
        self.assertEqual(read(self.h("etc/sigshim/config.toml")).decode(), CONFIG.format(mode="enforce"))
        self.assertEqual(self.calls(), [], "no reload for a rejected config")
        self.assertFalse([f for f in os.listdir(self.h("etc")) if f.startswith(".sigshim")])

    def test_sync_refuses_a_config_listening_where_kubelet_does_not_connect(self):
        self.install()
        self.publish('[server]\nlisten = "/run/elsewhere/cri.sock"\n' + CONFIG.format(mode="audit"))
        p = self.run_installer("sync", expect=1)
        self.assertIn('listens on "/run/elsewhere/cri.sock", but kubelet is pointed at /run/sigshim/cri.sock', p.stderr)
        self.assertEqual(read(self.h("etc/sigshim/config.toml")).decode(), CONFIG.format(mode="enforce"))
        self.assertEqual(self.calls(), [])
        self.assertFalse([f for f in os.listdir(self.h("etc")) if f.startswith(".sigshim")])

    def test_sync_checks_key_files_together_with_the_config(self):
        self.install()
        self.publish(CONFIG.format(mode="audit"), key=None)
        p = self.run_installer("sync", expect=1)
        self.assertIn("release.pub", p.stderr)
        self.assertEqual(read(self.h("etc/sigshim/keys/release.pub")).decode(), KEY)
        self.assertEqual(read(self.h("etc/sigshim/config.toml")).decode(), CONFIG.format(mode="enforce"))

    def test_sync_without_a_mounted_configmap_fails(self):
        shutil.rmtree(self.configmap)
        p = self.run_installer("sync", expect=1)
        self.assertIn("is the ConfigMap mounted?", p.stderr)

    # --- uninstall -----------------------------------------------------------------------------

    def test_uninstall_moves_kubelet_back_before_stopping_sigshim(self):
        self.install()
        self.run_installer("uninstall")
        self.assertEqual(self.calls(), [
            "daemon-reload | dropin=no unit=yes",
            "restart kubelet.service | dropin=no unit=yes",
            "stop sigshim.service | dropin=no unit=yes",
            "disable sigshim.service | dropin=no unit=yes",
            "daemon-reload | dropin=no unit=no",
        ])
        # kubelet's own drop-in is back to being the only one; every file the installer wrote is gone.
        self.assertEqual(files_under(self.root), [KUBEADM_DROPIN])
        self.assertEqual(read(self.h(KUBEADM_DROPIN)).decode(), self.kubeadm)

    def test_uninstall_twice_is_harmless(self):
        self.install()
        self.run_installer("uninstall")
        self.calls()
        self.run_installer("uninstall")
        self.assertEqual(self.calls(), [])

    def test_uninstall_refuses_while_kubelet_config_still_points_at_sigshim(self):
        self.install()
        write(self.h("var/lib/kubelet/config.yaml"),
              "kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/sigshim/cri.sock\n")
        before = {f: read(self.h(f)) for f in files_under(self.root)}
        p = self.run_installer("uninstall", expect=1)
        self.assertIn("/var/lib/kubelet/config.yaml", p.stderr)
        self.assertIn("nothing was changed", p.stderr)
        self.assertEqual(self.calls(), [])
        self.assertEqual({f: read(self.h(f)) for f in files_under(self.root)}, before)

    # --- run (what the DaemonSet executes) -------------------------------------------------------

    def start_run(self, action="install"):
        """Starts `installer.sh run` in the background; it is stopped (SIGTERM, then SIGKILL) at cleanup."""
        e = dict(os.environ, ROOT=self.root, SYSTEMCTL="/bin/sh " + self.fake, SIGSHIM_SRC=self.src,
                 SIGSHIM_CONFIG_SRC=self.configmap, FAKE_SYSTEMCTL_LOG=self.calls_log, SYNC_INTERVAL="1",
                 SIGSHIM_ACTION=action)
        self.run_log = os.path.join(self.tmp, "run.log")
        log = open(self.run_log, "w")
        self.addCleanup(log.close)
        p = subprocess.Popen([os.path.join(ARGS.source_dir, "config/kubernetes/installer.sh"), "run"],
                             env=e, stdout=log, stderr=subprocess.STDOUT)

        def stop():
            if p.poll() is None:
                p.kill()
                p.wait()
        self.addCleanup(stop)
        return p

    def wait_until(self, what, predicate):
        """Polls predicate until it holds; fails after a generous liveness bound (not a measurement)."""
        deadline = time.monotonic() + 60
        while not predicate():
            if time.monotonic() > deadline:
                with open(self.run_log) as f:
                    self.fail("timed out waiting for %s; installer log:\n%s" % (what, f.read()))
            time.sleep(0.05)

    def recorded(self):
        if not os.path.exists(self.calls_log):
            return []
        with open(self.calls_log) as f:
            return [l.split(" | ")[0] for l in f.read().splitlines()]

    def logged(self):
        with open(self.run_log) as f:
            return f.read()

    def test_run_installs_follows_the_configmap_and_stops_on_sigterm(self):
        p = self.start_run()
        self.wait_until("kubelet restart", lambda: "restart kubelet.service" in self.recorded())
        self.assertEqual(self.recorded()[:2], ["daemon-reload", "enable sigshim.service"])
        self.publish(CONFIG.format(mode="audit"))
        self.wait_until("reload", lambda: "reload sigshim.service" in self.recorded())
        self.assertEqual(read(self.h("etc/sigshim/config.toml")).decode(), CONFIG.format(mode="audit"))
        # A bad edit is reported once and not installed; the loop goes on.
        self.publish(CONFIG.format(mode="enforcing"))
        self.wait_until("the rejection", lambda: "enforcement.mode" in self.logged())
        self.publish(CONFIG.format(mode="enforce"))
        self.wait_until("the fixed config", lambda: read_if_there(self.h("etc/sigshim/config.toml"))
                        == CONFIG.format(mode="enforce").encode())
        self.assertEqual(self.logged().count("enforcement.mode"), 1)
        self.assertIsNone(p.poll())
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=60), 0)

    def test_run_with_a_bad_configmap_still_updates_a_node_that_has_a_good_config(self):
        self.install()
        self.publish(CONFIG.format(mode="enforcing"))
        new_binary = read(ARGS.sigshim) + b"\0sigshim-update-marker\0"
        write(os.path.join(self.src, "sigshim"), new_binary, 0o755)
        p = self.start_run()
        self.wait_until("the sigshim restart", lambda: "restart sigshim.service" in self.recorded())
        self.assertEqual(read(self.h(BIN)), new_binary)
        self.assertEqual(read(self.h("etc/sigshim/config.toml")).decode(), CONFIG.format(mode="enforce"))
        self.assertIn("keeping the installed configuration", self.logged())
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=60), 0)

    def test_run_without_any_valid_config_fails(self):
        self.publish(CONFIG.format(mode="enforcing"))
        p = self.start_run()
        self.assertEqual(p.wait(timeout=60), 1)
        self.assertIn("no valid configuration to install sigshim with", self.logged())
        self.assertEqual(self.recorded(), [])
        self.assertEqual(files_under(self.root), [KUBEADM_DROPIN])

    def test_run_uninstall_uninstalls_then_waits_for_deletion(self):
        self.install()
        p = self.start_run("uninstall")
        self.wait_until("the uninstall", lambda: "sigshim-installer: uninstalled" in self.logged())
        self.assertEqual(self.recorded(), ["daemon-reload", "restart kubelet.service", "stop sigshim.service",
                                           "disable sigshim.service", "daemon-reload"])
        self.assertEqual(files_under(self.root), [KUBEADM_DROPIN])
        self.assertIsNone(p.poll(), "stays up (Ready) until the DaemonSet is deleted")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=60), 0)

    # --- usage ---------------------------------------------------------------------------------

    def test_bad_usage_exits_two(self):
        p = self.run_installer("frobnicate", expect=2)
        self.assertIn("usage:", p.stderr)
        p = self.run_installer("run", expect=2, env={"SIGSHIM_ACTION": "remove"})
        self.assertIn("SIGSHIM_ACTION must be install or uninstall", p.stderr)
        self.assertEqual(self.calls(), [])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--sigshim", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
