#!/bin/sh
# sigshim node installer: puts sigshim on the host under systemd, keeps /etc/sigshim equal to the
# ConfigMap, and takes it all away again. Run by the DaemonSet in daemonset.yaml (privileged, host
# root at /host, systemctl through nsenter into PID 1), or by hand on a node.
#
#   installer.sh install     copy the binary, the unit and the kubelet drop-in onto the host, enable
#                            and start sigshim, and only once it serves restart kubelet onto it
#   installer.sh sync        copy the ConfigMap into /etc/sigshim when it changed, after
#                            `sigshim check-config` accepted it, then `systemctl reload sigshim`
#   installer.sh uninstall   remove the kubelet drop-in FIRST and restart kubelet onto containerd's
#                            socket, then stop, disable and remove sigshim
#   installer.sh run         what the DaemonSet runs: SIGSHIM_ACTION=install (default) is sync,
#                            install, then sync every SYNC_INTERVAL seconds (a rejected ConfigMap is
#                            reported once; it stops the first install only when the node has no
#                            valid configuration yet); SIGSHIM_ACTION=uninstall is uninstall, then
#                            wait (so the pod stays Ready until it is deleted). SIGTERM ends it.
#
# Exit status: 0 done (or nothing to do); 1 failed, with the reason on stderr; 2 bad usage.
#
# Environment (every host path below is prefixed with ROOT, so tests can run against a folder):
#   ROOT            where the host's / is.                         Default: "" (this machine)
#   SYSTEMCTL       the systemctl command, split on spaces.        Default: "systemctl"
#                   The DaemonSet uses "nsenter -t 1 -m -u -i -n -p -- systemctl".
#   SIGSHIM_SRC     folder holding sigshim, sigshim.service, kubelet-sigshim.conf.
#                                                                  Default: this script's folder
#   SIGSHIM_CONFIG_SRC  the mounted ConfigMap (config.toml, keys/…). Default: /etc/sigshim-configmap
#   SIGSHIM_CHECK   the binary that validates a configuration.    Default: $SIGSHIM_SRC/sigshim
#   SYNC_INTERVAL   seconds between syncs in `run`.               Default: 10
#   SIGSHIM_ACTION  what `run` does: install | uninstall.         Default: install
#
# Files written on the host (and removed by uninstall, except /var/lib/sigshim, sigshim's state):
#   /usr/local/bin/sigshim
#   /etc/systemd/system/sigshim.service                  (ExecStart rewritten to /usr/local/bin)
#   /etc/systemd/system/kubelet.service.d/90-sigshim.conf   (kubeadm-style kubelets only; any other
#                                                        kubelet must name the socket in its
#                                                        KubeletConfiguration, or install fails)
#   /etc/sigshim/…                                       (a copy of the ConfigMap)
# Key files must be named relative to config.toml (path = "keys/release.pub"): the file is checked
# in a staging folder before it replaces /etc/sigshim, and a relative path is checked there too.
set -eu

ROOT=${ROOT:-}
SYSTEMCTL=${SYSTEMCTL:-systemctl}
SIGSHIM_SRC=${SIGSHIM_SRC:-$(cd "$(dirname "$0")" && pwd)}
SIGSHIM_CONFIG_SRC=${SIGSHIM_CONFIG_SRC:-/etc/sigshim-configmap}
SIGSHIM_CHECK=${SIGSHIM_CHECK:-$SIGSHIM_SRC/sigshim}
SYNC_INTERVAL=${SYNC_INTERVAL:-10}

BIN=/usr/local/bin/sigshim
UNIT=/etc/systemd/system/sigshim.service
DROPIN=/etc/systemd/system/kubelet.service.d/90-sigshim.conf
CONFIG_DIR=/etc/sigshim
STAGING=/etc/.sigshim.staging
PREVIOUS=/etc/.sigshim.previous
SOCKET=/run/sigshim/cri.sock

log() { printf 'sigshim-installer: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# systemctl ARGS...: runs the configured systemctl (word-split on purpose: it may be an nsenter line).
systemctl_() {
  # shellcheck disable=SC2086
  $SYSTEMCTL "$@"
}

# put_file SRC DEST MODE: installs SRC at $ROOT/DEST (atomically: a temporary file, then rename) when
# the content differs. Prints "changed" when it wrote the file.
put_file() {
  src=$1 dest=$ROOT$2 mode=$3
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then return 0; fi
  mkdir -p "$(dirname "$dest")"
  cp "$src" "$dest.sigshim-new"
  chmod "$mode" "$dest.sigshim-new"
  mv -f "$dest.sigshim-new" "$dest"
  log "wrote $2"
  echo changed
}

# The unit as shipped names /usr/bin/sigshim (where the .deb puts it); on a node installed by the
# DaemonSet the binary lives in /usr/local/bin, outside the package manager's folders.
rendered_unit() {
  tmp=$1
  sed "s|/usr/bin/sigshim|$BIN|g" "$SIGSHIM_SRC/sigshim.service" > "$tmp"
}

do_install() {
  for f in sigshim sigshim.service kubelet-sigshim.conf; do
    [ -f "$SIGSHIM_SRC/$f" ] || die "install: $SIGSHIM_SRC/$f is missing (SIGSHIM_SRC)"
  done
  [ -f "$ROOT$CONFIG_DIR/config.toml" ] ||
    die "install: $CONFIG_DIR/config.toml does not exist; run sync first (the service would not start)"

  unit_tmp=$(mktemp)
  rendered_unit "$unit_tmp"
  changed=$(put_file "$SIGSHIM_SRC/sigshim" "$BIN" 0755; put_file "$unit_tmp" "$UNIT" 0644)
  rm -f "$unit_tmp"

  systemctl_ daemon-reload
  systemctl_ enable sigshim.service
  # A new binary or unit: restart (which starts it when stopped). Type=notify makes either return
  # once the process serves, and fail when it never does.
  action=start
  [ -z "$changed" ] || action=restart
  if ! systemctl_ "$action" sigshim.service || ! systemctl_ is-active --quiet sigshim.service; then
    die "install: sigshim is not active after start (journalctl -u sigshim); kubelet left as it was"
  fi

  # Only now, with sigshim serving, is kubelet pointed at it. The drop-in replaces kubelet's
  # ExecStart with kubeadm's plus the endpoint, so it is only for kubelets started the kubeadm way.
  if [ -f "$ROOT$DROPIN" ] || kubelet_is_kubeadm_style; then
    dropin_changed=$(put_file "$SIGSHIM_SRC/kubelet-sigshim.conf" "$DROPIN" 0644)
    if [ -n "$dropin_changed" ]; then
      systemctl_ daemon-reload
      systemctl_ restart kubelet.service
      log "kubelet restarted onto unix://$SOCKET"
    fi
  else
    already=$(kubelet_files_pointing_at_sigshim)
    [ -n "$already" ] || die "install: sigshim is installed and serving, but kubelet is not started the kubeadm way" \
      "(no KUBELET_KUBEADM_ARGS in its unit files), so the drop-in could drop flags it needs: set" \
      "containerRuntimeEndpoint: unix://$SOCKET in kubelet's KubeletConfiguration and restart kubelet"
    log "kubelet already uses sigshim ($(echo "$already" | tr '\n' ' ')); no drop-in needed"
  fi
  log "installed; sigshim is serving"
}

# copy_configmap DEST: copies the mounted ConfigMap into DEST, following the ..data symlinks that
# kubelet uses for atomic updates and leaving out its ..timestamp folders.
copy_configmap() {
  dest=$1
  rm -rf "$dest"
  mkdir -p "$dest"
  for entry in "$SIGSHIM_CONFIG_SRC"/* "$SIGSHIM_CONFIG_SRC"/.[!.]*; do
    [ -e "$entry" ] || continue
    cp -RL "$entry" "$dest/"
  done
}

do_sync() {
  [ -f "$SIGSHIM_CONFIG_SRC/config.toml" ] ||
    die "sync: $SIGSHIM_CONFIG_SRC/config.toml is missing (is the ConfigMap mounted?)"
  copy_configmap "$ROOT$STAGING"
  if [ -d "$ROOT$CONFIG_DIR" ] && diff -r -q "$ROOT$STAGING" "$ROOT$CONFIG_DIR" >/dev/null 2>&1; then
    rm -rf "$ROOT$STAGING"
    return 0
  fi

  # Validate BEFORE anything is replaced; errors name the ConfigMap's file, not the staging copy.
  if ! out=$("$SIGSHIM_CHECK" check-config --config "$ROOT$STAGING/config.toml" 2>&1); then
    rm -rf "$ROOT$STAGING"
    printf '%s\n' "$out" | sed "s|$ROOT$STAGING|$SIGSHIM_CONFIG_SRC|g" | grep -v '^$' | sed 's/^/  /' >&2 || true
    die "sync: the new configuration is invalid (above); not installed, $CONFIG_DIR unchanged"
  fi
  # kubelet's drop-in names this socket; a config listening elsewhere would cut kubelet off at the
  # next restart of sigshim.
  listen=$(printf '%s\n' "$out" | sed -n 's/^listen = "\(.*\)"$/\1/p' | head -n 1)
  if [ "$listen" != "$SOCKET" ]; then
    rm -rf "$ROOT$STAGING"
    die "sync: the new configuration listens on \"$listen\", but kubelet is pointed at $SOCKET;" \
      "not installed, $CONFIG_DIR unchanged"
  fi
  chmod 0755 "$ROOT$STAGING"
  rm -rf "$ROOT$PREVIOUS"
  if [ -d "$ROOT$CONFIG_DIR" ]; then mv "$ROOT$CONFIG_DIR" "$ROOT$PREVIOUS"; fi
  mv "$ROOT$STAGING" "$ROOT$CONFIG_DIR"
  rm -rf "$ROOT$PREVIOUS"
  log "wrote $CONFIG_DIR from $SIGSHIM_CONFIG_SRC"

  # A running sigshim reloads (SIGHUP). A stopped or failing one reads the file at its next start
  # (Restart=always), and before install there is nothing to tell.
  if [ -f "$ROOT$UNIT" ] && systemctl_ is-active --quiet sigshim.service; then
    systemctl_ reload sigshim.service
    log "sigshim reloaded"
  fi
}

# Prints kubelet's systemd unit and drop-in files, wherever systemd and the packages put them.
kubelet_unit_files() {
  for dir in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    for f in "$ROOT$dir"/kubelet.service "$ROOT$dir"/kubelet.service.d/*.conf; do
      [ -f "$f" ] && [ "$f" != "$ROOT$DROPIN" ] && printf '%s\n' "$f"
    done
  done
  return 0
}

# Succeeds when kubelet is started the kubeadm way (the variables the drop-in's ExecStart keeps).
kubelet_is_kubeadm_style() {
  for f in $(kubelet_unit_files); do
    if grep -q 'KUBELET_KUBEADM_ARGS' "$f"; then return 0; fi
  done
  return 1
}

# Prints the kubelet configuration files, other than our drop-in, that send kubelet to sigshim's
# socket. Uninstalling while one does would leave kubelet without a runtime.
kubelet_files_pointing_at_sigshim() {
  for f in $(kubelet_unit_files) "$ROOT"/etc/default/kubelet "$ROOT"/etc/sysconfig/kubelet \
           "$ROOT"/var/lib/kubelet/kubeadm-flags.env "$ROOT"/var/lib/kubelet/config.yaml; do
    [ -f "$f" ] || continue
    if grep -q "$SOCKET" "$f"; then printf '%s\n' "${f#"$ROOT"}"; fi
  done | sort -u
}

do_uninstall() {
  others=$(kubelet_files_pointing_at_sigshim)
  if [ -n "$others" ]; then
    die "uninstall: kubelet is also pointed at $SOCKET by: $(echo "$others" | tr '\n' ' ')- change that to containerd's socket first; nothing was changed"
  fi
  # 1. kubelet back on containerd's socket, while sigshim still serves the calls in flight.
  if [ -f "$ROOT$DROPIN" ]; then
    rm -f "$ROOT$DROPIN"
    rmdir "$(dirname "$ROOT$DROPIN")" 2>/dev/null || true
    log "removed $DROPIN"
    systemctl_ daemon-reload
    systemctl_ restart kubelet.service
    log "kubelet restarted onto containerd's socket"
  fi
  # 2. Then sigshim goes.
  if [ -f "$ROOT$UNIT" ]; then
    systemctl_ stop sigshim.service
    systemctl_ disable sigshim.service
    rm -f "$ROOT$UNIT"
    log "removed $UNIT"
    systemctl_ daemon-reload
  fi
  rm -f "$ROOT$BIN"
  rm -rf "$ROOT$CONFIG_DIR" "$ROOT$STAGING" "$ROOT$PREVIOUS"
  log "uninstalled (state in /var/lib/sigshim kept)"
}

# pause SECONDS: sleeps in the background so that SIGTERM (pod deletion) ends the wait at once.
pause() {
  sleep "$1" &
  sleeper=$!
  wait "$sleeper" || true
  sleeper=""
}

do_run() {
  sleeper=""
  trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; exit 0' TERM INT
  case ${SIGSHIM_ACTION:-install} in
    install)
      # A bad ConfigMap must not block installing a new binary on a node that already has a good
      # configuration; without one, there is nothing to start sigshim with.
      # sync runs as its own process: `set -e` does not apply inside an if or || condition.
      if ! "$0" sync; then
        [ -f "$ROOT$CONFIG_DIR/config.toml" ] || die "run: no valid configuration to install sigshim with"
        log "run: keeping the installed configuration"
      fi
      do_install
      last=""
      while :; do
        pause "$SYNC_INTERVAL"
        # Report a failing sync once, not every interval.
        out=$("$0" sync 2>&1) || true
        if [ -n "$out" ] && [ "$out" != "$last" ]; then printf '%s\n' "$out" >&2; fi
        last=$out
      done
      ;;
    uninstall)
      do_uninstall
      while :; do pause 3600; done
      ;;
    *) log "SIGSHIM_ACTION must be install or uninstall, not \"$SIGSHIM_ACTION\""; exit 2 ;;
  esac
}

case ${1:-} in
  install) do_install ;;
  sync) do_sync ;;
  uninstall) do_uninstall ;;
  run) do_run ;;
  *) echo "usage: $0 install | sync | uninstall | run" >&2; exit 2 ;;
esac
