# systemd_service on the host (rendered by systemd.rs; every value is a positional parameter
# bound above this line), in the order of Ansible's module: daemon-reload, then the unit's
# `systemctl show` properties, then masked, enabled and state, each changed only when it
# differs. Prints the `show` output, then a marker line and `key=value` results; exit 0 = ok,
# 100 = changed.
LC_ALL=C; export LC_ALL
changed=0
fail() { printf '%s\n' "$1" >&2; exit 1; }
command -v systemctl >/dev/null 2>&1 ||
  fail "systemctl was not found on this host: systemd_service needs systemd"
act() { if [ "$no_block" = 1 ]; then systemctl --no-block "$@"; else systemctl "$@"; fi; }
if [ "$daemon_reload" = 1 ] && [ "$check" != 1 ]; then
  err=$(systemctl daemon-reload 2>&1 >/dev/null) || fail "failure $? during daemon-reload: $err"
fi
[ -n "$unit" ] || { echo; echo __platform_result__; exit 0; }
show=$(systemctl show "$unit" 2>/dev/null) && [ -n "$show" ] || {
  err=$(systemctl show "$unit" 2>&1 >/dev/null)
  fail "systemctl show $unit failed (is systemd running on this host?): $err"
}
prop() { printf '%s\n' "$show" | sed -n "s/^$1=//p" | head -n 1; }
load=$(prop LoadState); active=$(prop ActiveState); load_error=$(prop LoadError)
found=0; [ -n "$load" ] && [ "$load" != not-found ] && found=1
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
  [ -n "$active" ] || fail "Service is in unknown state: systemctl show $unit printed no ActiveState"
  running=0; case $active in active|activating) running=1;; esac
  verb=; result_state=$state
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
[ -n "$state" ] && echo "state=$result_state"
[ "$changed" = 1 ] && exit 100
exit 0
