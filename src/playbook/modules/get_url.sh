# get_url on the host (rendered by get_url.rs; every value is a positional parameter bound
# above this line). Prints `key=value` result lines; exit 0 = ok, 100 = changed.
LC_ALL=C; export LC_ALL
nl='
'
cr=$(printf '\r')
changed=0; tmp=; t=$d
fail() { cat >/dev/null; printf '%s\n' "$1" >&2; exit 1; }
# The end of a run that did not fail: what dest now is, and the exit status.
finish() {
  if [ -e "$d" ]; then echo "info=$(stat -L -c '%a %u %g %U %G %s' -- "$d")"; fi
  [ "$changed" = 1 ] && exit 100
  exit 0
}
headers=
if [ "$has_headers" = 1 ]; then headers=$(cat); fi
if [ -d "$d" ]; then fail "dest $d is a directory: give the path of the file to write"; fi
dir=$(dirname -- "$d")
if [ ! -d "$dir" ]; then fail "Destination $dir does not exist"; fi
if command -v curl >/dev/null 2>&1; then tool=curl
elif command -v wget >/dev/null 2>&1; then tool=wget
else fail "get_url needs curl or wget on the host; neither is installed"; fi
if [ "$tool" = wget ] && [ "$has_headers" = 1 ]; then
  fail "get_url: headers need curl on the host (wget would show them on its command line)"
fi

# One request: the body of $1 to the file $2 ($3 = GET or HEAD, $4 = 1: only if newer than
# $d). Sets `code` (the HTTP status, 000 when there was none); returns the tool's status.
fetch() {
  f_url=$1; f_out=$2; f_method=$3; f_cond=$4
  if [ "$tool" = curl ]; then
    set -- -sS -L --max-redirs 10 --proto =http,https --proto-redir =http,https \
      --connect-timeout "$timeout" --speed-time "$timeout" --speed-limit 1 \
      -w '%{http_code}' -o "$f_out"
    [ "$f_method" = HEAD ] && set -- "$@" -I
    [ "$f_cond" = 1 ] && set -- "$@" -z "$d"
    if [ "$has_headers" = 1 ]; then
      code=$(printf '%s\n' "$headers" | curl "$@" -H @- -- "$f_url")
    else
      code=$(curl "$@" -- "$f_url" </dev/null)
    fi
    f_rc=$?
  else
    set -- -nv -S --max-redirect=10 -t 1 -T "$timeout" -O "$f_out"
    [ "$f_method" = HEAD ] && set -- "$@" --spider
    f_err=$(wget "$@" -- "$f_url" 2>&1 </dev/null >/dev/null)
    f_rc=$?
    code=000
    while IFS= read -r f_line; do
      case $f_line in *HTTP/*) f_line=${f_line#*HTTP/*[[:space:]]}; code=${f_line%%[!0-9]*};; esac
    done <<EOF
$f_err
EOF
    [ "$f_rc" = 0 ] || printf '%s\n' "$f_err" | grep -v '^  ' >&2
  fi
  return "$f_rc"
}

# The body of $1 on stdout, at most 1 MiB.
fetch_small() {
  r=$( { if [ "$tool" = curl ]; then
           if [ "$has_headers" = 1 ]; then
             printf '%s\n' "$headers" | curl -sS -f -L --max-redirs 10 --proto =http,https --proto-redir =http,https --connect-timeout "$timeout" --speed-time "$timeout" --speed-limit 1 -H @- -- "$1"
           else
             curl -sS -f -L --max-redirs 10 --proto =http,https --proto-redir =http,https --connect-timeout "$timeout" --speed-time "$timeout" --speed-limit 1 -- "$1" </dev/null
           fi
         else wget -q -t 1 -T "$timeout" -O - -- "$1" </dev/null; fi
         printf '\n__platform_rc=%s' "$?"; } | head -c 1048700)
  case $r in
    *"${nl}__platform_rc=0") printf '%s' "${r%"${nl}__platform_rc="*}" ;;
    *"${nl}__platform_rc="*) return 1 ;;
    *) echo "the checksum file $1 is larger than 1 MiB" >&2; return 1 ;;
  esac
}

# One line of a checksum file as Ansible reads it: BSD `ALGO (PATH) = DIGEST`, else GNU
# `DIGEST  PATH` (`*PATH` for binary mode; leading `.` and `/` dropped). Sets d_ and p_.
parse_line() {
  l=$1
  d_=${l##*= }; h_=${l%= *}; h_=${h_% }
  a_=${h_%%[!A-Za-z0-9_]*}; r_=${h_#"$a_"}; r_=${r_# }
  bsd=1
  case $l in *"= "*) ;; *) bsd=0;; esac
  case $d_ in ''|*[!A-Za-z0-9_.]*) bsd=0;; esac
  case $r_ in "("?*")") ;; *) bsd=0;; esac
  [ -n "$a_" ] || bsd=0
  if [ "$bsd" = 1 ]; then p_=${r_#"("}; p_=${p_%")"}; return 0; fi
  d_=${l%%[!A-Za-z0-9_.]*}
  [ -n "$d_" ] || return 1
  r_=${l#"$d_"}
  case $r_ in [[:space:]]*) ;; *) return 1;; esac
  while :; do case $r_ in [[:space:]]*) r_=${r_#?};; *) break;; esac; done
  [ -n "$r_" ] || return 1
  case $r_ in "*"?*) r_=${r_#"*"};; esac
  while :; do case $r_ in [./]*) r_=${r_#?};; *) break;; esac; done
  p_=$r_
}

if [ -n "$sum_url" ]; then
  sums=$(fetch_small "$sum_url") || fail "Request failed: cannot download the checksum file $sum_url"
  n=0; first=; want=
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%"$cr"}; n=$((n + 1)); [ "$n" = 1 ] && first=$line
    [ -n "$want" ] && continue
    if parse_line "$line" && [ "$p_" = "$base" ]; then want=$d_; fi
  done <<EOF
$sums
EOF
  # A file of one word is the checksum alone.
  if [ "$n" = 1 ]; then set -f; set -- $first; set +f; [ "$#" = 1 ] && want=$first; fi
  [ -n "$want" ] || fail "Unable to find a checksum for file '$base' in '$sum_url'"
  want=$(printf %s "$want" | tr -cd 'A-Za-z0-9_' | tr 'A-Z' 'a-z')
  case $want in ''|*[!0-9a-f]*) fail "The checksum format is invalid";; esac
fi

cond=0
if [ -e "$d" ]; then
  if [ "$force" != 1 ] && [ -n "$want" ]; then
    have=$("$sum_tool" < "$d") || exit 1; have=${have%% *}
    if [ "$have" = "$want" ]; then
      @ATTRS_DEST@
      if [ "$changed" = 1 ]; then echo "msg=file already exists but file attributes changed"
      else echo "msg=file already exists"; fi
      finish
    fi
    force=1
  fi
  [ "$force" = 1 ] || cond=1
fi

empty_sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709
dest_sha1=
if [ "$check" = 1 ]; then
  fetch "$url" /dev/null HEAD "$cond"; rc=$?
else
  @CREATE_TEMP@
  fetch "$url" "$t" GET "$cond"; rc=$?
fi
echo "status_code=$code"
if [ "$code" = 304 ]; then echo "msg=HTTP Error 304: Not Modified"; finish; fi
[ "$rc" = 0 ] || fail "Request failed: $url (HTTP status $code)"
[ "$code" = 200 ] || fail "Request failed: $url answered HTTP status $code"
if [ -e "$d" ]; then dest_sha1=$(sha1sum < "$d") || exit 1; dest_sha1=${dest_sha1%% *}; fi
if [ "$check" = 1 ]; then
  echo "checksum_src=$empty_sha1"; echo "checksum_dest=$dest_sha1"
  [ "$dest_sha1" = "$empty_sha1" ] || changed=1
  finish
fi
src_sha1=$(sha1sum < "$t") || exit 1; src_sha1=${src_sha1%% *}
echo "checksum_src=$src_sha1"; echo "checksum_dest=$dest_sha1"
if [ -n "$want" ]; then
  got=$("$sum_tool" < "$t") || exit 1; got=${got%% *}
  [ "$got" = "$want" ] || fail "The checksum for $d did not match $want; it was $got."
fi
echo "msg=OK ($(wc -c < "$t" | tr -d ' ') bytes)"
if [ "$src_sha1" = "$dest_sha1" ]; then
  rm -f -- "$tmp"; tmp=; t=$d
else
  changed=1
  @LIKE_DEST@
fi
@ATTRS_T@
@RENAME_TEMP@
md5=$(md5sum < "$d") && echo "md5sum=${md5%% *}"
finish
