#!/usr/bin/python3
"""config/kubernetes/build-image.sh: the installer image builds from local files only, and inside it
(unpacked, in a chroot) the installer runs on busybox's shell and tools: sync, install, a rejected
sync and uninstall against a temporary host root, with a fake systemctl.

Usage: image_test.py --source-dir REPO --sigshim BUILT_BINARY [unittest arguments]
Needs root (umoci unpack, chroot): registered with the e2e label.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = None

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> /calls.log
exit 0
"""


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sigshim-image-test.")
        layout = os.path.join(cls.tmp, "oci")
        p = subprocess.run([os.path.join(ARGS.source_dir, "config/kubernetes/build-image.sh"), ARGS.sigshim,
                            layout, "test"], capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            shutil.rmtree(cls.tmp)
            raise AssertionError("build-image.sh failed: " + p.stdout + p.stderr)
        cls.bundle = os.path.join(cls.tmp, "bundle")
        subprocess.run(["umoci", "unpack", "--image", layout + ":test", cls.bundle], check=True,
                       capture_output=True, timeout=600)
        cls.rootfs = os.path.join(cls.bundle, "rootfs")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def chroot(self, script, expect=0):
        p = subprocess.run([shutil.which("chroot"), self.rootfs, "/bin/sh", "-c", script], capture_output=True, text=True,
                           timeout=120, env={"PATH": "/bin"})
        if expect is not None:
            self.assertEqual(p.returncode, expect, script + "\n" + p.stdout + p.stderr)
        return p

    def test_image_runs_the_installer_by_default(self):
        with open(os.path.join(self.bundle, "config.json")) as f:
            self.assertEqual(json.load(f)["process"]["args"], ["/opt/sigshim/installer.sh", "run"])
        for f in ("installer.sh", "sigshim", "sigshim.service", "kubelet-sigshim.conf"):
            self.assertTrue(os.path.isfile(os.path.join(self.rootfs, "opt/sigshim", f)), f)
        self.assertIn("sigshim ", self.chroot("/opt/sigshim/sigshim --version").stdout)

    def test_installer_works_with_the_images_own_tools(self):
        os.makedirs(os.path.join(self.rootfs, "cm/keys"), exist_ok=True)
        with open(os.path.join(self.rootfs, "cm/config.toml"), "w") as f:
            f.write('[enforcement]\nmode = "audit"\n')
        with open(os.path.join(self.rootfs, "fake-systemctl"), "w") as f:
            f.write(FAKE_SYSTEMCTL)
        host = os.path.join(self.rootfs, "fakehost")
        kubeadm = os.path.join(host, "etc/systemd/system/kubelet.service.d/10-kubeadm.conf")
        os.makedirs(os.path.dirname(kubeadm))
        with open(kubeadm, "w") as f:
            f.write("[Service]\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n")
        env = "ROOT=/fakehost SYSTEMCTL='/bin/sh /fake-systemctl' SIGSHIM_CONFIG_SRC=/cm "
        self.chroot(env + "/opt/sigshim/installer.sh sync && " + env + "/opt/sigshim/installer.sh install")
        for f in ("usr/local/bin/sigshim", "etc/systemd/system/sigshim.service",
                  "etc/systemd/system/kubelet.service.d/90-sigshim.conf", "etc/sigshim/config.toml"):
            self.assertTrue(os.path.isfile(os.path.join(host, f)), f)

        with open(os.path.join(self.rootfs, "cm/config.toml"), "w") as f:
            f.write('[enforcement]\nmode = "enforcing"\n')
        p = self.chroot(env + "/opt/sigshim/installer.sh sync", expect=1)
        self.assertIn("/cm/config.toml:2: enforcement.mode", p.stderr)
        with open(os.path.join(host, "etc/sigshim/config.toml")) as f:
            self.assertEqual(f.read(), '[enforcement]\nmode = "audit"\n')

        self.chroot(env + "/opt/sigshim/installer.sh uninstall")
        with open(os.path.join(self.rootfs, "calls.log")) as f:
            calls = f.read().splitlines()
        self.assertEqual(calls[-5:], ["daemon-reload", "restart kubelet.service", "stop sigshim.service",
                                      "disable sigshim.service", "daemon-reload"])
        self.assertEqual([f for _, _, files in os.walk(host) for f in files], ["10-kubeadm.conf"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--sigshim", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
