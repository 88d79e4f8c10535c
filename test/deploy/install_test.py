#!/usr/bin/python3
"""`cmake --install` (what `make install` and the .deb run) into a temporary DESTDIR: exactly the
expected files, the unit's ExecStart naming the installed binary for the prefix chosen.

Usage: install_test.py --build-dir BUILD --sigshim BUILT_BINARY --source-dir REPO [unittest arguments]
"""
import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

ARGS = None


def files_under(root):
    out = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class InstallTest(unittest.TestCase):
    def setUp(self):
        self.destdir = tempfile.mkdtemp(prefix="sigshim-install-test.")
        self.addCleanup(shutil.rmtree, self.destdir)

    def install(self, prefix):
        p = subprocess.run(["cmake", "--install", ARGS.build_dir, "--prefix", prefix],
                           env=dict(os.environ, DESTDIR=self.destdir), capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return os.path.join(self.destdir, prefix.lstrip("/"))

    def check_tree(self, prefix):
        base = self.install(prefix)
        self.assertEqual(files_under(self.destdir), sorted(os.path.join(prefix.lstrip("/"), f) for f in [
            "bin/sigshim",
            "lib/systemd/system/sigshim.service",
            "share/sigshim/config.toml",
            "share/sigshim/installer.sh",
            "share/sigshim/kubelet-sigshim.conf",
            "share/sigshim/kubernetes/configmap.yaml",
            "share/sigshim/kubernetes/daemonset.yaml",
            "share/sigshim/kubernetes/namespace.yaml",
        ]))
        self.assertEqual(read(os.path.join(base, "bin/sigshim")), read(ARGS.sigshim))
        self.assertTrue(os.stat(os.path.join(base, "bin/sigshim")).st_mode & stat.S_IXUSR)
        self.assertTrue(os.stat(os.path.join(base, "share/sigshim/installer.sh")).st_mode & stat.S_IXUSR)
        for rel, src in [("share/sigshim/config.toml", "config/config.toml"),
                         ("share/sigshim/kubelet-sigshim.conf", "systemd/kubelet-sigshim.conf"),
                         ("share/sigshim/installer.sh", "config/kubernetes/installer.sh")]:
            self.assertEqual(read(os.path.join(base, rel)), read(os.path.join(ARGS.source_dir, src)), rel)
        return read(os.path.join(base, "lib/systemd/system/sigshim.service")).decode()

    def test_prefix_usr_installs_the_unit_as_written(self):
        unit = self.check_tree("/usr")
        self.assertEqual(unit, read(os.path.join(ARGS.source_dir, "systemd/sigshim.service")).decode())

    def test_prefix_usr_local_gets_a_unit_starting_usr_local_bin(self):
        unit = self.check_tree("/usr/local")
        self.assertIn("\nExecStart=/usr/local/bin/sigshim --config /etc/sigshim/config.toml\n", unit)
        self.assertNotIn("/usr/bin/sigshim", unit)
        self.assertEqual(unit, read(os.path.join(ARGS.source_dir, "systemd/sigshim.service")).decode()
                         .replace("/usr/bin/sigshim", "/usr/local/bin/sigshim"))

    def test_cpack_is_configured_for_a_debian_package(self):
        with open(os.path.join(ARGS.build_dir, "CPackConfig.cmake")) as f:
            text = f.read()
        for line in ['set(CPACK_GENERATOR "DEB")', 'set(CPACK_PACKAGE_NAME "sigshim")',
                     'set(CPACK_DEBIAN_PACKAGE_DEPENDS "containerd")', 'set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")',
                     'set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS "ON")']:
            self.assertIn(line, text)
        self.assertRegex(text, r'set\(CPACK_DEBIAN_PACKAGE_MAINTAINER "[^"]+<[^>]+>"\)')



class DebianPackageTest(unittest.TestCase):
    """cpack -G DEB from the build's CPack configuration, in a temporary folder."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sigshim-deb-test.")
        p = subprocess.run(["cpack", "-G", "DEB", "-B", cls.tmp, "--config",
                            os.path.join(os.path.abspath(ARGS.build_dir), "CPackConfig.cmake")],
                           cwd=ARGS.build_dir, capture_output=True, text=True, timeout=600)
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        if p.returncode != 0 or len(debs) != 1:
            shutil.rmtree(cls.tmp)
            raise AssertionError("cpack failed: " + p.stdout + p.stderr)
        cls.deb = os.path.join(cls.tmp, debs[0])
        cls.control = os.path.join(cls.tmp, "control")
        subprocess.run(["dpkg-deb", "-e", cls.deb, cls.control], check=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], capture_output=True, text=True,
                              check=True, timeout=60).stdout.strip()

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "sigshim")
        depends = [d.strip().split(" ")[0] for d in self.field("Depends").split(",")]
        self.assertIn("containerd", depends)
        self.assertIn("libsystemd0", depends)
        self.assertRegex(self.field("Maintainer"), r".+ <[^>]+>")

    def test_contents_under_usr(self):
        listing = subprocess.run(["dpkg-deb", "-c", self.deb], capture_output=True, text=True, check=True,
                                 timeout=120).stdout
        files = sorted(l.split()[-1] for l in listing.splitlines() if not l.startswith("d"))
        self.assertEqual(files, ["./usr/bin/sigshim", "./usr/lib/systemd/system/sigshim.service",
                                 "./usr/share/sigshim/config.toml", "./usr/share/sigshim/installer.sh",
                                 "./usr/share/sigshim/kubelet-sigshim.conf",
                                 "./usr/share/sigshim/kubernetes/configmap.yaml",
                                 "./usr/share/sigshim/kubernetes/daemonset.yaml",
                                 "./usr/share/sigshim/kubernetes/namespace.yaml"])

    def prerm(self, root):
        return subprocess.run([os.path.join(self.control, "prerm"), "remove"], env=dict(os.environ, DPKG_ROOT=root),
                              capture_output=True, text=True, timeout=60)

    def test_removal_is_refused_while_kubelet_uses_the_socket(self):
        root = tempfile.mkdtemp(prefix="sigshim-deb-root.")
        self.addCleanup(shutil.rmtree, root)
        self.assertEqual(self.prerm(root).returncode, 0)
        dropin = os.path.join(root, "etc/systemd/system/kubelet.service.d/90-sigshim.conf")
        os.makedirs(os.path.dirname(dropin))
        shutil.copy(os.path.join(ARGS.source_dir, "systemd/kubelet-sigshim.conf"), dropin)
        p = self.prerm(root)
        self.assertEqual(p.returncode, 1)
        self.assertIn("kubelet still uses unix:///run/sigshim/cri.sock "
                      "(/etc/systemd/system/kubelet.service.d/90-sigshim.conf)", p.stderr)
        os.remove(dropin)
        self.assertEqual(self.prerm(root).returncode, 0)

    def test_purge_removes_only_the_state(self):
        root = tempfile.mkdtemp(prefix="sigshim-deb-root.")
        self.addCleanup(shutil.rmtree, root)
        os.makedirs(os.path.join(root, "var/lib/sigshim/verdicts"))
        os.makedirs(os.path.join(root, "etc/sigshim"))
        for action, state_left in (("remove", True), ("purge", False)):
            p = subprocess.run([os.path.join(self.control, "postrm"), action], env=dict(os.environ, DPKG_ROOT=root),
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(os.path.isdir(os.path.join(root, "var/lib/sigshim")), state_left, action)
            self.assertTrue(os.path.isdir(os.path.join(root, "etc/sigshim")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--sigshim", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
