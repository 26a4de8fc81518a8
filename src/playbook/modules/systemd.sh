# systemd_service on the host (rendered by systemd.rs; every value is a positional parameter
# bound above this line), in the order of Ansible's module: daemon-reload, then the unit's
# `systemctl show` properties, then masked, enabled and state, each changed only when it
# differs. Prints the `show` output, then a marker line and `key=value` results; exit 0 = ok,
# 100 = changed.
LC_ALL=C; export LC_ALL
changed=0; result_state=
nl='
'
fail() { printf '%s\n' "$1" >&2; exit 1; }
command -v systemctl >/dev/null 2>&1 ||
  fail "systemctl was not found on this host: systemd_service needs systemd"
act() { if [ "$no_block" = 1 ]; then systemctl --no-block "$@"; else systemctl "$@"; fi; }
# Ansible's is_chroot() or SYSTEMD_OFFLINE=1: systemd is not running here, and systemctl
# works on unit files only (enable, is-enabled, list-unit-files).
offline=0
if [ "${SYSTEMD_OFFLINE:-}" = 1 ] || [ -n "${debian_chroot:-}" ]; then offline=1
elif p1=$(stat -L -c %d:%i /proc/1/root/. 2>/dev/null); then
  [ "$(stat -c %d:%i /)" = "$p1" ] || offline=1
else
  case $(stat -f -c %T / 2>/dev/null) in btrfs) ino=256;; xfs) ino=128;; *) ino=2;; esac
  [ "$(stat -c %i /)" = "$ino" ] || offline=1
fi
warnings=
if [ "$daemon_reload" = 1 ] && [ "$check" != 1 ]; then
  err=$(systemctl daemon-reload 2>&1 >/dev/null) || {
    rc=$?
    [ "$offline" = 1 ] || fail "failure $rc during daemon-reload: $err"
    warnings="daemon-reload failed, but target is a chroot or systemd is offline. Continuing. Error was: $rc / $err"
  }
fi
[ -n "$unit" ] || { echo; echo __platform_result__; exit 0; }
found=0
if show=$(systemctl show "$unit" 2>/dev/null) && [ -n "$show" ]; then
  prop() { printf '%s\n' "$show" | sed -n "s/^$1=//p" | head -n 1; }
  load=$(prop LoadState); active=$(prop ActiveState); load_error=$(prop LoadError)
  [ -n "$load" ] && [ "$load" != not-found ] && found=1
else
  # As Ansible: without `show` (no systemd running), the unit files say whether it exists.
  show=; load=; active=; load_error=
  case $(systemctl is-enabled "$unit" 2>/dev/null) in
    enabled|enabled-runtime|linked|linked-runtime|masked|masked-runtime|static|indirect|disabled|generated|transient) found=1 ;;
    *) if systemctl list-unit-files "$unit" >/dev/null 2>&1; then found=1
       else err=$(systemctl 2>&1 >/dev/null) || fail "systemctl failed (is systemd running on this host?): $err"; fi ;;
  esac
fi
if [ "$found" = 1 ] && [ "$load" != masked ] && [ -n "$load_error" ]; then
  fail "Error loading unit file '$unit': $load_error"
fi
missing="Could not find the requested service $unit: host"
if [ -n "$masked" ]; then
  is_masked=0; [ "$(systemctl is-enabled "$unit" 2>/dev/null)" = masked ] && is_masked=1
  if [ "$is_masked" != "$masked" ]; then
    changed=1
    if [ "$masked" = 1 ]; then verb=mask; else verb=unmask; fi
    if [ "$check" != 1 ]; then
      err=$(systemctl "$verb" "$unit" 2>&1 >/dev/null) || {
        [ "$found" = 1 ] || fail "$missing"
        fail "Failed to $verb the service ($unit): $err"
      }
    fi
  fi
fi
if [ -n "$enabled" ]; then
  [ "$found" = 1 ] || fail "$missing"
  out=$(systemctl is-enabled "$unit" -l 2>/dev/null); rc=$?
  is_enabled=0
  if [ "$rc" = 0 ]; then
    case $out in enabled-runtime|indirect|alias) ;; *) is_enabled=1;; esac
  fi
  result_enabled=$is_enabled
  if [ "$is_enabled" != "$enabled" ]; then
    changed=1; result_enabled=$enabled
    if [ "$enabled" = 1 ]; then verb=enable; else verb=disable; fi
    if [ "$check" != 1 ]; then
      err=$(systemctl "$verb" "$unit" 2>&1) || fail "Unable to $verb service $unit: $err"
    fi
  fi
fi
if [ -n "$state" ]; then
  [ "$found" = 1 ] || fail "$missing"
  result_state=$state
  if [ -z "$active" ] && [ "$offline" = 1 ]; then
    warnings="${warnings:+$warnings$nl}Target is a chroot or systemd is offline. This can lead to false positives or prevent the init system tools from working."
    state=
  fi
fi
if [ -n "$state" ]; then
  [ -n "$active" ] || fail "Service is in unknown state: systemctl show $unit printed no ActiveState"
  running=0; case $active in active|activating) running=1;; esac
  verb=
  case $state in
    started) [ "$running" = 1 ] || verb=start ;;
    stopped) { [ "$running" = 1 ] || [ "$active" = deactivating ]; } && verb=stop ;;
    *) if [ "$running" = 1 ]; then verb=${state%ed}; else verb=start; fi; result_state=started ;;
  esac
  if [ -n "$verb" ]; then
    changed=1
    if [ "$check" != 1 ]; then
      err=$(act "$verb" "$unit" 2>&1 >/dev/null) || fail "Unable to $verb service $unit: $err"
    fi
  fi
fi
printf '%s\n' "$show"
echo __platform_result__
[ -n "$enabled" ] && echo "enabled=$result_enabled"
[ -n "$result_state" ] && echo "state=$result_state"
[ -n "$warnings" ] && printf '%s\n' "$warnings" | sed 's/^/warning=/'
[ "$changed" = 1 ] && exit 100
exit 0
