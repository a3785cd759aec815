#!/bin/sh
# Installs (or removes) vigia as a systemd service.
#
#   scripts/install.sh [--prefix P] [--destdir D] [--binary FILE] [--config-source FILE] [--uninstall]
#
#   --prefix P          where bin/ and lib/ go (default /usr/local; PREFIX env also works)
#   --destdir D         stage into D instead of / (packaging, tests; DESTDIR env also works).
#                       Nothing outside D is touched and no user, directory or systemd
#                       step is run: systemd-sysusers/systemd-tmpfiles do that on the target.
#   --binary FILE       the executable to install (default dist/vigia from `deno task compile`)
#   --config-source F   the reference config (default config/vigia.toml)
#   --uninstall         remove what install put there; keep /etc/vigia and all data and logs
#
# Installs:
#   $PREFIX/bin/vigia                           the program
#   $PREFIX/lib/systemd/system/vigia.service    the unit (ExecStart paths follow --prefix)
#   $PREFIX/lib/sysusers.d/vigia.conf           system user and group "vigia"
#   $PREFIX/lib/tmpfiles.d/vigia.conf           /etc/vigia, /var/lib/vigia, /var/log/vigia, /run/vigia
#   $PREFIX/share/doc/vigia/                    README.md, vigia.toml.reference
#   /etc/vigia/vigia.toml                       only when absent; otherwise the new reference
#                                               goes to /etc/vigia/vigia.toml.new (when it differs)
# Idempotent: running it again changes nothing but files whose content changed.
# Exit: 0 done, 1 failed, 2 usage.
set -eu

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

here=$(cd "$(dirname "$0")/.." && pwd)
prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
binary=$here/dist/vigia
config_source=$here/config/vigia.toml
uninstall=0

need_value() {
  [ $# -ge 2 ] && [ -n "$2" ] || { echo "install: $1 needs a value" >&2; usage; }
}
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) need_value "$@"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --destdir) need_value "$@"; destdir=$2; shift 2 ;;
    --destdir=*) destdir=${1#*=}; shift ;;
    --binary) need_value "$@"; binary=$2; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --config-source) need_value "$@"; config_source=$2; shift 2 ;;
    --config-source=*) config_source=${1#*=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h | --help) usage ;;
    *) echo "install: unknown argument: $1" >&2; usage ;;
  esac
done

case $prefix in
  /*) ;;
  *) echo "install: --prefix must be an absolute path, got: $prefix" >&2; exit 2 ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/usr
if [ -n "$destdir" ]; then
  case $destdir in
    /*) ;;
    *) destdir=$(pwd)/$destdir ;;
  esac
  destdir=${destdir%/}
fi

bin=$prefix/bin/vigia
unit=$prefix/lib/systemd/system/vigia.service
sysusers=$prefix/lib/sysusers.d/vigia.conf
tmpfiles=$prefix/lib/tmpfiles.d/vigia.conf
docdir=$prefix/share/doc/vigia
man8=$prefix/share/man/man8/vigia.8
man5=$prefix/share/man/man5/vigia.toml.5
confdir=/etc/vigia
conf=$confdir/vigia.toml

# Live system (no DESTDIR): systemd and user steps run, and root is needed.
live=0
[ -z "$destdir" ] && live=1
if [ "$live" = 1 ] && [ "$(id -u)" != 0 ]; then
  echo "install: installing into / needs root (or stage with --destdir DIR)" >&2
  exit 1
fi
systemd_running=0
[ "$live" = 1 ] && [ -d /run/systemd/system ] && systemd_running=1

say() { echo "install: $*"; }

# put SRC DEST MODE: copy SRC to $destdir/DEST when missing or different, atomically
# (a running binary is replaced, never written over in place).
put() {
  dest=$destdir$2
  if [ -f "$dest" ] && cmp -s "$1" "$dest"; then
    chmod "$3" "$dest"
    say "unchanged $2"
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$(dirname "$dest")/.vigia-install.$$
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$dest"
  say "installed $2"
}

remove() {
  if [ -e "$destdir$1" ] || [ -L "$destdir$1" ]; then
    rm -f "$destdir$1"
    say "removed $1"
  fi
}

if [ "$uninstall" = 1 ]; then
  if [ "$systemd_running" = 1 ]; then
    systemctl disable --now vigia.service >/dev/null 2>&1 || true
  fi
  for f in "$bin" "$unit" "$sysusers" "$tmpfiles" "$docdir/README.md" "$docdir/vigia.toml.reference" "$man8" "$man5"; do
    remove "$f"
  done
  rmdir "$destdir$docdir" 2>/dev/null || true
  if [ "$systemd_running" = 1 ]; then systemctl daemon-reload || true; fi
  say "kept $conf, /var/lib/vigia, /var/log/vigia and the vigia user (remove them by hand if wanted)"
  exit 0
fi

[ -f "$binary" ] || {
  echo "install: no binary at $binary: run \`deno task compile\` first, or pass --binary FILE" >&2
  exit 1
}
[ -f "$config_source" ] || { echo "install: no reference config at $config_source" >&2; exit 1; }
for f in vigia.service vigia.sysusers.conf vigia.tmpfiles.conf; do
  [ -f "$here/systemd/$f" ] || { echo "install: missing $here/systemd/$f" >&2; exit 1; }
done
for f in vigia.8 vigia.toml.5; do
  [ -f "$here/man/$f" ] || { echo "install: missing $here/man/$f" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
# The unit names /usr/local/...; follow --prefix.
sed "s|/usr/local/|$prefix/|g" "$here/systemd/vigia.service" >"$work/vigia.service"

put "$binary" "$bin" 0755
put "$work/vigia.service" "$unit" 0644
put "$here/systemd/vigia.sysusers.conf" "$sysusers" 0644
put "$here/systemd/vigia.tmpfiles.conf" "$tmpfiles" 0644
put "$config_source" "$docdir/vigia.toml.reference" 0644
# Man pages, generated from the CLI and the config schema (scripts/gen_cli_doc.ts).
put "$here/man/vigia.8" "$man8" 0644
put "$here/man/vigia.toml.5" "$man5" 0644
if [ -f "$here/README.md" ]; then put "$here/README.md" "$docdir/README.md" 0644; fi

# The system user first, so that the config can be given to its group.
if [ "$live" = 1 ]; then
  if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers "$sysusers"
  elif ! getent passwd vigia >/dev/null; then
    getent group vigia >/dev/null || groupadd --system vigia
    useradd --system --gid vigia --home-dir /var/lib/vigia --no-create-home \
      --shell /usr/sbin/nologin --comment "vigia network lookout daemon" vigia
  fi
fi

# The config: never overwrite one that exists (it is the user's).
mkdir -p "$destdir$confdir"
chmod 0755 "$destdir$confdir"
if [ ! -e "$destdir$conf" ]; then
  put "$config_source" "$conf" 0640
  if [ "$live" = 1 ]; then chgrp vigia "$conf"; fi
elif cmp -s "$config_source" "$destdir$conf"; then
  say "unchanged $conf"
  rm -f "$destdir$conf.new"
else
  put "$config_source" "$conf.new" 0640
  if [ "$live" = 1 ]; then chgrp vigia "$conf.new"; fi
  say "kept your $conf; the new reference is $conf.new (compare: diff -u $conf $conf.new)"
fi

if [ "$live" = 1 ]; then
  if command -v systemd-tmpfiles >/dev/null 2>&1; then
    systemd-tmpfiles --create "$tmpfiles"
  else
    install -d -m 0750 -o vigia -g vigia /var/lib/vigia /var/log/vigia /run/vigia
  fi
  if [ "$systemd_running" = 1 ]; then
    systemctl daemon-reload
    if systemctl is-active --quiet vigia.service; then
      say "vigia is running the old binary: systemctl restart vigia"
    else
      say "next: edit $conf, then: systemctl enable --now vigia"
    fi
  fi
fi
say "done"
