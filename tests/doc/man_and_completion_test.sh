#!/usr/bin/env bash
# setlist(1) and the bash completion agree with the binary:
#  - the man page renders without a groff warning;
#  - every flag that `setlist COMMAND --help` lists is described in the page;
#  - every setting and every command's exit codes are in it;
#  - completion offers the subcommands and a command's flags, read from --help.
# Usage: man_and_completion_test.sh SETLIST_BIN MAN_PAGE COMPLETION_SCRIPT
set -euo pipefail
bin="$1" page="$2" completion="$3"
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

warnings="$(groff -man -Tutf8 -ww -z "$page" 2>&1 || true)"
[ -z "$warnings" ] || bad "groff warns about $page: $warnings"
rendered="$(groff -man -Tutf8 "$page" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g; s/.\x08//g')"

commands="$("$bin" --help | awk '/^Subcommands:/ {on=1; next} on && NF == 0 {on=0} on {print $1}')"
[ -n "$commands" ] || bad "no subcommands found in setlist --help"
for cmd in $commands; do
  grep -q "^ *$cmd " <<<"$(sed -n '/^COMMANDS/,/^SETTINGS/p' <<<"$rendered")" || bad "command $cmd is not in COMMANDS"
  for flag in $("$bin" "$cmd" --help | sed -n 's/^ \{1,\}\(-[^ ]*\).*/\1/p' | tr ',' '\n' | grep '^--'); do
    [ "$flag" = --help ] && continue
    grep -qe "$flag" <<<"$rendered" || bad "setlist $cmd takes $flag, which the man page does not describe (src/doc/setlist.1.in)"
  done
  # The command's exit codes, as its --help lists them, are in EXIT STATUS.
  section="$(sed -n '/^EXIT STATUS/,/^ENVIRONMENT/p' <<<"$rendered" | sed -n "/^   $cmd\$/,/^   [a-z]*\$/p")"
  for code in $("$bin" "$cmd" --help | sed -n '/^Exit codes:/,$p' | sed -n 's/^  \([0-9]\{1,3\}\) .*/\1/p'); do
    grep -q "^ *$code\b" <<<"$section" || bad "exit code $code of $cmd is not under EXIT STATUS"
  done
done
grep -q -- "--max-download-size SIZE" <<<"$rendered" || bad "the settings are not in the man page"
grep -q "Default: 512MiB" <<<"$rendered" || bad "the settings' defaults are not in the man page"

# Completion, as bash runs it (without the bash-completion package: the
# script falls back to COMP_WORDS).
complete_words() {  # words... -> what the completion offers for the last one
  PATH="$(dirname "$bin"):$PATH" bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    _setlist
    printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$@"
}
[ "$(complete_words setlist ve)" = verify ] || bad "setlist ve<TAB> does not offer verify: $(complete_words setlist ve)"
grep -qx -- --submit-rate <<<"$(complete_words setlist run --submit-r)" || bad "setlist run --submit-r<TAB> does not offer --submit-rate"
grep -qx -- --format <<<"$(complete_words setlist validate --for)" || bad "setlist validate --for<TAB> does not offer --format"
[ "$(complete_words setlist run --provider sun)" = "$(printf 'sunoapi\nsuno-api')" ] || bad "--provider sun<TAB>: $(complete_words setlist run --provider sun)"
if grep -qx -- --retry-failed <<<"$(complete_words setlist verify --re)"; then bad "verify is offered run's flags"; fi

[ "$fail" = 0 ] && echo "man page and completion agree with setlist --help"
exit "$fail"
