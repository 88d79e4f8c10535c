#!/bin/sh
# Builds the installer image that daemonset.yaml runs, from this repository and this machine's
# files only (nothing is downloaded): busybox-static for the shell and tools (sh, cp, diff, cmp,
# sed, nsenter, …), the sigshim binary with the shared libraries it links, the systemd unit, the
# kubelet drop-in and installer.sh, all under /opt/sigshim.
#
#   config/kubernetes/build-image.sh SIGSHIM_BINARY OCI_LAYOUT [TAG]
#
# writes an OCI image layout (umoci). Push it, then sign it like every other image the cluster runs:
#   skopeo copy oci:OCI_LAYOUT:TAG docker://registry.example.com/sigshim/installer:TAG
#
# Needs root (file ownership in the layer), umoci and busybox-static (Debian packages).
set -eu

if [ $# -lt 2 ]; then
  echo "usage: $0 SIGSHIM_BINARY OCI_LAYOUT [TAG]" >&2
  exit 2
fi
binary=$1
layout=$2
tag=${3:-latest}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
busybox=${BUSYBOX:-/bin/busybox}

[ -x "$binary" ] || { echo "build-image: $binary is not an executable" >&2; exit 1; }
"$busybox" --list | grep -qx nsenter || { echo "build-image: $busybox has no nsenter (install busybox-static)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/opt/sigshim" "$rootfs/tmp" "$rootfs/etc" "$rootfs/host"
chmod 1777 "$rootfs/tmp"

# The shell and tools: one static busybox, one link per applet.
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
mkdir -p "$rootfs/usr"
ln -s ../bin "$rootfs/usr/bin"
ln -s ../bin "$rootfs/sbin"

# sigshim and what it links, at the same paths as here (the dynamic loader included). The image
# needs them for `sigshim check-config`; on the host the binary uses the host's libraries.
cp "$binary" "$rootfs/opt/sigshim/sigshim"
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
cp "$here/installer.sh" "$rootfs/opt/sigshim/installer.sh"
chmod 0755 "$rootfs/opt/sigshim/installer.sh"
cp "$repo/systemd/sigshim.service" "$repo/systemd/kubelet-sigshim.conf" "$rootfs/opt/sigshim/"

[ -d "$layout" ] || umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci unpack --image "$layout:$tag" "$work/bundle" >/dev/null
cp -a "$rootfs/." "$work/bundle/rootfs/"
umoci repack --image "$layout:$tag" "$work/bundle"
umoci config --image "$layout:$tag" --config.entrypoint /opt/sigshim/installer.sh --config.cmd run \
  --config.env PATH=/bin --config.workingdir /
echo "build-image: wrote $layout:$tag"
