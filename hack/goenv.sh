# Sourced by every script that runs go: pins the toolchain of the product to
# GO_TOOLCHAIN of versions.env. A machine's own GOTOOLCHAIN (often "local")
# would otherwise win, since go ignores a newer toolchain line when it is local.
# shellcheck source=versions.env
. "$(dirname "${BASH_SOURCE[0]}")/versions.env"
export GOTOOLCHAIN=$GO_TOOLCHAIN
