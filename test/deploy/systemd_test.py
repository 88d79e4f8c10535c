#!/usr/bin/python3
"""systemd/sigshim.service and systemd/kubelet-sigshim.conf: `systemd-analyze verify` accepts them
as installed (by the package and by the DaemonSet installer), with no warning at all, and they say
what the node relies on.

Usage: systemd_test.py --source-dir REPO --sigshim BUILT_BINARY [unittest arguments]

systemd-analyze verify checks that every Exec path exists and loads the units' dependencies
(sysinit.target, …), so each test builds a small root: the host's own unit folder (for the
targets), /usr/bin/kill (ExecReload), the built sigshim at its installed path, and a kubeadm-style
kubelet.service for the drop-in to apply to. It runs with --root, so nothing on this machine is
read or changed outside that folder.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = None

KUBELET_UNIT = """[Unit]
Description=kubelet (as kubeadm installs it)
After=containerd.service

[Service]
ExecStart=/usr/bin/kubelet
Restart=always

[Install]
WantedBy=multi-user.target
"""

KUBEADM_DROPIN = """[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""


def parse_unit(text):
    """Returns {section: [(key, value), …]} for a unit file, keeping repeated keys in order."""
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key, value))
    return sections


def values(sections, section, key):
    return [v for k, v in sections.get(section, []) if k == key]


class SystemdTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sigshim-systemd-test.")
        os.makedirs(self.p("usr/bin"))
        os.makedirs(self.p("usr/lib/systemd"))
        os.symlink("usr/bin", self.p("bin"))
        os.symlink("usr/lib", self.p("lib"))
        shutil.copytree("/usr/lib/systemd/system", self.p("usr/lib/systemd/system"), symlinks=True)
        shutil.copy("/usr/bin/kill", self.p("usr/bin/kill"))
        self.put("usr/bin/kubelet", "#!/bin/sh\n", 0o755)
        self.put("etc/systemd/system/kubelet.service", KUBELET_UNIT)
        self.put("etc/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROPIN)
        with open(os.path.join(ARGS.source_dir, "systemd/sigshim.service")) as f:
            self.unit_text = f.read()
        with open(os.path.join(ARGS.source_dir, "systemd/kubelet-sigshim.conf")) as f:
            self.dropin_text = f.read()

    def tearDown(self):
        shutil.rmtree(self.root)

    def p(self, rel):
        return os.path.join(self.root, rel)

    def put(self, rel, text, mode=0o644):
        os.makedirs(os.path.dirname(self.p(rel)), exist_ok=True)
        with open(self.p(rel), "w") as f:
            f.write(text)
        os.chmod(self.p(rel), mode)

    def verify(self, *units):
        """Runs systemd-analyze verify in the root; returns (exit code, everything it printed)."""
        p = subprocess.run(["systemd-analyze", "verify", "--root=" + self.root] + list(units),
                           capture_output=True, text=True, timeout=120)
        return p.returncode, (p.stdout + p.stderr).strip()

    def test_packaged_unit_and_dropin_verify_cleanly(self):
        # Where the .deb puts them: the binary in /usr/bin, the unit in /lib/systemd/system.
        shutil.copy(ARGS.sigshim, self.p("usr/bin/sigshim"))
        self.put("usr/lib/systemd/system/sigshim.service", self.unit_text)
        self.put("etc/systemd/system/kubelet.service.d/90-sigshim.conf", self.dropin_text)
        code, out = self.verify("/lib/systemd/system/sigshim.service", "/etc/systemd/system/kubelet.service")
        self.assertEqual((code, out), (0, ""))

    def test_unit_as_the_daemonset_installs_it_verifies_cleanly(self):
        # The installer's own output (binary in /usr/local/bin, unit in /etc), with a fake systemctl.
        outside = tempfile.mkdtemp(prefix="sigshim-systemd-test-image.")
        self.addCleanup(shutil.rmtree, outside)
        src = os.path.join(outside, "image")
        os.makedirs(src)
        shutil.copy(ARGS.sigshim, os.path.join(src, "sigshim"))
        shutil.copy(os.path.join(ARGS.source_dir, "systemd/sigshim.service"), src)
        shutil.copy(os.path.join(ARGS.source_dir, "systemd/kubelet-sigshim.conf"), src)
        configmap = os.path.join(outside, "configmap")
        os.makedirs(configmap)
        with open(os.path.join(configmap, "config.toml"), "w") as f:
            f.write("[enforcement]\nmode = \"enforce\"\n")
        env = dict(os.environ, ROOT=self.root, SYSTEMCTL="true", SIGSHIM_SRC=src, SIGSHIM_CONFIG_SRC=configmap)
        installer = os.path.join(ARGS.source_dir, "config/kubernetes/installer.sh")
        for action in ("sync", "install"):
            p = subprocess.run([installer, action], env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(self.p("etc/systemd/system/kubelet.service.d/90-sigshim.conf")))
        code, out = self.verify("/etc/systemd/system/sigshim.service", "/etc/systemd/system/kubelet.service")
        self.assertEqual((code, out), (0, ""))

    def test_verify_does_report_a_broken_unit(self):
        # The control for the two tests above: an unknown key and a missing binary are reported.
        self.put("usr/lib/systemd/system/sigshim.service", self.unit_text.replace("[Service]", "[Service]\nBogus=1"))
        code, out = self.verify("/lib/systemd/system/sigshim.service")
        self.assertNotEqual(code, 0)
        self.assertIn("Unknown key 'Bogus'", out)
        self.assertIn("/usr/bin/sigshim is not executable", out)

    def test_unit_states_what_the_node_relies_on(self):
        u = parse_unit(self.unit_text)
        self.assertEqual(values(u, "Service", "Type"), ["notify"])
        self.assertEqual(values(u, "Service", "ExecStart"), ["/usr/bin/sigshim --config /etc/sigshim/config.toml"])
        self.assertEqual(values(u, "Service", "ExecReload"), ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(values(u, "Service", "Restart"), ["always"])
        self.assertEqual(values(u, "Service", "LimitNOFILE"), ["65536"], "descriptors do not depend on the distribution")
        self.assertIn("containerd.service", " ".join(values(u, "Unit", "After")).split())
        self.assertIn("kubelet.service", " ".join(values(u, "Unit", "Before")).split())
        self.assertEqual(values(u, "Service", "NoNewPrivileges"), ["yes"])
        self.assertEqual(values(u, "Service", "ProtectSystem"), ["strict"])
        self.assertEqual(values(u, "Service", "ReadWritePaths"), [], "only the state and run folders are writable")
        self.assertEqual(values(u, "Service", "RuntimeDirectory"), ["sigshim"])
        self.assertEqual(values(u, "Service", "StateDirectory"), ["sigshim"])
        self.assertEqual(values(u, "Service", "CapabilityBoundingSet"), [""])
        self.assertEqual(values(u, "Install", "WantedBy"), ["multi-user.target"])

    def test_dropin_points_kubelet_at_the_socket_sigshim_listens_on(self):
        d = parse_unit(self.dropin_text)
        starts = values(d, "Service", "ExecStart")
        self.assertEqual(starts[0], "", "kubeadm's ExecStart is reset first")
        self.assertEqual(len(starts), 2)
        # Kept: every kubeadm variable, the administrator's KUBELET_EXTRA_ARGS included; the endpoint
        # comes last, so it beats one in kubeadm-flags.env or /etc/default/kubelet.
        self.assertTrue(starts[1].endswith(
            "$KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS --container-runtime-endpoint=unix:///run/sigshim/cri.sock"),
            starts[1])
        self.assertIn("sigshim.service", values(d, "Unit", "After"))
        self.assertIn("sigshim.service", values(d, "Unit", "Wants"))
        self.assertEqual(values(d, "Unit", "Requires"), [], "restarting sigshim must not stop kubelet")
        with open(os.path.join(ARGS.source_dir, "config/config.toml")) as f:
            self.assertIn('\nlisten = "/run/sigshim/cri.sock"\n', f.read())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--sigshim", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
