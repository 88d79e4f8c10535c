#!/usr/bin/python3
"""config/kubernetes/*.yaml: parsed, and checked for what installer.sh relies on.

Usage: manifests_test.py --source-dir REPO --sigshim BUILT_BINARY [unittest arguments]

The ConfigMap's policy is laid out exactly as the DaemonSet's volume items mount it and checked with
the real `sigshim check-config`, so a ConfigMap that would be rejected on every node fails here.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

ARGS = None


def load(name):
    with open(os.path.join(ARGS.source_dir, "config/kubernetes", name)) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


def installer_defaults():
    """Returns the installer's NAME=${NAME:-default} settings: the variables it reads."""
    with open(os.path.join(ARGS.source_dir, "config/kubernetes/installer.sh")) as f:
        text = f.read()
    settings = dict(re.findall(r"^([A-Z_]+)=\$\{[A-Z_]+:-([^}]*)\}$", text, re.M))
    return settings


class ManifestsTest(unittest.TestCase):
    def setUp(self):
        (self.ns,) = load("namespace.yaml")
        (self.cm,) = load("configmap.yaml")
        (self.ds,) = load("daemonset.yaml")
        self.pod = self.ds["spec"]["template"]["spec"]
        (self.container,) = self.pod["containers"]
        self.env = {e["name"]: e["value"] for e in self.container["env"]}
        self.volumes = {v["name"]: v for v in self.pod["volumes"]}
        self.mounts = {m["name"]: m for m in self.container["volumeMounts"]}

    def test_kinds_and_namespace(self):
        self.assertEqual((self.ns["apiVersion"], self.ns["kind"]), ("v1", "Namespace"))
        name = self.ns["metadata"]["name"]
        self.assertEqual((self.cm["apiVersion"], self.cm["kind"]), ("v1", "ConfigMap"))
        self.assertEqual((self.ds["apiVersion"], self.ds["kind"]), ("apps/v1", "DaemonSet"))
        self.assertEqual(self.cm["metadata"]["namespace"], name)
        self.assertEqual(self.ds["metadata"]["namespace"], name)
        self.assertEqual(self.ds["spec"]["selector"]["matchLabels"].items() -
                         self.ds["spec"]["template"]["metadata"]["labels"].items(), set())

    def test_installer_can_reach_the_host(self):
        self.assertIs(self.pod["hostPID"], True, "nsenter -t 1 needs the host's PID 1")
        self.assertIs(self.container["securityContext"]["privileged"], True)
        self.assertEqual(self.env["SYSTEMCTL"].split()[:3], ["nsenter", "-t", "1"])
        self.assertEqual(self.env["SYSTEMCTL"].split()[-1], "systemctl")
        # ROOT is where the host's / is mounted, writable.
        host = self.volumes["host-root"]["hostPath"]
        self.assertEqual(host["path"], "/")
        self.assertEqual(self.mounts["host-root"]["mountPath"], self.env["ROOT"])
        self.assertFalse(self.mounts["host-root"].get("readOnly", False))
        # Every node, tainted ones included.
        self.assertIn({"operator": "Exists"}, self.pod["tolerations"])

    def test_installer_runs_from_the_image_folder_it_is_told(self):
        settings = installer_defaults()
        self.assertEqual(self.container["command"], [self.env["SIGSHIM_SRC"] + "/installer.sh", "run"])
        self.assertIn(self.env["SIGSHIM_ACTION"], ("install", "uninstall"))
        self.assertTrue(self.env["SYNC_INTERVAL"].isdigit())
        # Every variable the DaemonSet sets is one the installer reads.
        self.assertEqual(set(self.env) - set(settings) - {"SIGSHIM_ACTION"}, set())

    def test_configmap_is_mounted_where_the_installer_reads_it(self):
        policy = self.volumes["policy"]["configMap"]
        self.assertEqual(policy["name"], self.cm["metadata"]["name"])
        self.assertEqual(self.mounts["policy"]["mountPath"], self.env["SIGSHIM_CONFIG_SRC"])
        items = {i["key"]: i["path"] for i in policy["items"]}
        # Every ConfigMap key is mounted (an unlisted key would silently never reach a node), and
        # config.toml lands where the installer validates and copies it from.
        self.assertEqual(set(items), set(self.cm["data"]))
        self.assertEqual(items["config.toml"], "config.toml")
        self.assertIn("release.pub", self.cm["data"])

    def test_configmap_policy_passes_check_config_as_mounted(self):
        items = {i["key"]: i["path"] for i in self.volumes["policy"]["configMap"]["items"]}
        tmp = tempfile.mkdtemp(prefix="sigshim-manifests-test.")
        self.addCleanup(shutil.rmtree, tmp)
        for key, path in items.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, path)), exist_ok=True)
            with open(os.path.join(tmp, path), "w") as f:
                f.write(self.cm["data"][key])
        p = subprocess.run([ARGS.sigshim, "check-config", "--config", os.path.join(tmp, "config.toml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('name = "release"', p.stdout)
        self.assertIn('listen = "/run/sigshim/cri.sock"', p.stdout)
        # Key files are named relative to config.toml, so the installer's staging check sees them.
        for line in self.cm["data"]["config.toml"].splitlines():
            if line.strip().startswith("path"):
                self.assertFalse(line.split("=", 1)[1].strip().strip('"').startswith("/"), line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--sigshim", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
