#!/bin/sh
# Builds pgwait from this checkout with cargo and installs it.
#
#   ./install.sh                  # to /usr/local/bin as root, ~/.local/bin otherwise
#   ./install.sh --prefix /opt/pgwait
#   ./install.sh --force          # replace a different pgwait already there
#
# It makes a static x86_64 musl binary when that target is installed or can be added
# (and musl-gcc is there for ring's C parts), otherwise a normal release build, and says
# which it made.

set -eu

MUSL_TARGET=x86_64-unknown-linux-musl

say() {
    printf 'install.sh: %s\n' "$*" >&2
}

die() {
    say "error: $*"
    exit 1
}

usage() {
    cat <<'EOF'
Usage: ./install.sh [--prefix DIR] [--force]

Builds pgwait from this checkout and installs it as DIR/bin/pgwait.

Options:
  --prefix DIR   install under DIR (default: /usr/local as root, ~/.local otherwise)
  --force        replace a different pgwait binary that is already installed
  -h, --help     show this help
EOF
}

default_prefix() {
    if [ "$(id -u)" = 0 ]; then
        printf '%s\n' /usr/local
    else
        printf '%s\n' "${HOME:?HOME is not set; give --prefix}/.local"
    fi
}

# Sets PREFIX and FORCE from the command line.
parse_args() {
    PREFIX=""
    FORCE=no
    while [ $# -gt 0 ]; do
        case "$1" in
            --prefix)
                [ $# -ge 2 ] || { usage >&2; die "--prefix needs a directory"; }
                PREFIX=$2
                shift 2
                ;;
            --prefix=*)
                PREFIX=${1#--prefix=}
                shift
                ;;
            --force)
                FORCE=yes
                shift
                ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage >&2
                say "error: unknown argument: $1"
                exit 2
                ;;
        esac
    done
    [ -n "$PREFIX" ] || PREFIX=$(default_prefix)
}

need_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        die "cargo is not installed. Install Rust (rustup installs cargo), then run this again."
    fi
}

# Succeeds when a static musl build can be made here, adding the target and musl-gcc
# when that is possible.
musl_possible() {
    [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] || return 1
    if ! rustc --print target-list 2>/dev/null | grep -qx "$MUSL_TARGET"; then
        return 1
    fi
    if command -v rustup >/dev/null 2>&1; then
        if ! rustup target list --installed 2>/dev/null | grep -qx "$MUSL_TARGET"; then
            say "adding the Rust target $MUSL_TARGET"
            rustup target add "$MUSL_TARGET" >/dev/null 2>&1 || return 1
        fi
    fi
    if ! command -v musl-gcc >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "installing musl-tools (musl-gcc, for ring's C parts)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null 2>&1 || return 1
        else
            return 1
        fi
    fi
    command -v musl-gcc >/dev/null 2>&1
}

# Builds and sets BUILT to the binary's path and KIND to what was built.
build() {
    cd "$(dirname "$0")"
    if musl_possible && cargo build --release --locked --target "$MUSL_TARGET"; then
        BUILT="target/$MUSL_TARGET/release/pgwait"
        KIND="static ($MUSL_TARGET)"
    else
        say "no static musl build here; making a normal release build"
        cargo build --release --locked || die "cargo build failed"
        BUILT="target/release/pgwait"
        KIND="dynamically linked ($(rustc -vV | sed -n 's/^host: //p'))"
    fi
    [ -x "$BUILT" ] || die "the build did not produce $BUILT"
    BUILT="$(pwd)/$BUILT"
}

install_binary() {
    bindir="$PREFIX/bin"
    dest="$bindir/pgwait"
    if [ -e "$dest" ] && ! cmp -s "$BUILT" "$dest" && [ "$FORCE" != yes ]; then
        die "$dest exists and differs from this build; use --force to replace it"
    fi
    mkdir -p "$bindir" || die "cannot create $bindir"
    # Copy then rename, so a running pgwait is never half-overwritten.
    tmp="$bindir/.pgwait.install.$$"
    cp "$BUILT" "$tmp" || die "cannot write to $bindir"
    chmod 755 "$tmp"
    mv -f "$tmp" "$dest"
    DEST=$dest
}

verify() {
    version=$("$DEST" --version) || die "the installed $DEST does not run"
    say "installed $DEST: $version, $KIND"
    case ":${PATH:-}:" in
        *":$PREFIX/bin:"*) ;;
        *) say "note: $PREFIX/bin is not in PATH" ;;
    esac
}

main() {
    parse_args "$@"
    need_cargo
    build
    install_binary
    verify
}

main "$@"
