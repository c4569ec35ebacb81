# bash completion for setlist (installed as
# share/bash-completion/completions/setlist). The subcommands and flags are
# read from `setlist --help` and `setlist COMMAND --help`, so completion knows
# exactly what the installed binary takes.
# shellcheck shell=bash disable=SC2207  # compgen output is split into words on purpose

_setlist_help_flags() {
  # Option lines of a --help page start with spaces and a dash: "  -o,--out TEXT ...".
  "$1" "${@:2}" --help 2>/dev/null | sed -n 's/^ \{1,\}\(-[^ ]*\).*/\1/p' | tr ',' '\n'
}

_setlist() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  }
  local prog="${words[0]}" sub="" i
  for ((i = 1; i < cword; i++)); do
    case "${words[i]}" in
      -*) ;;
      *) sub="${words[i]}"; break ;;
    esac
  done

  if [ -z "$sub" ]; then
    local subs
    subs="$("$prog" --help 2>/dev/null | awk '/^Subcommands:/ {on=1; next} on && NF == 0 {on=0} on {print $1}')"
    COMPREPLY=($(compgen -W "$subs --help --version" -- "$cur"))
    return
  fi

  case "$prev" in
    --provider) COMPREPLY=($(compgen -W "aimlapi sunoapi aimlapi-v2 suno-api" -- "$cur")); return ;;
    --log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
    --format)
      if [ "$sub" = report ]; then COMPREPLY=($(compgen -W "files md" -- "$cur"))
      else COMPREPLY=($(compgen -W "text json" -- "$cur")); fi
      return ;;
    -o | --out) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --api-key-file | --cacert) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  # Any other flag that takes a value: nothing sensible to offer.
  if [[ "$prev" == --* ]] && "$prog" "$sub" --help 2>/dev/null | grep -qE "^ +(-[a-z],)?$prev [A-Z]"; then
    return
  fi

  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_setlist_help_flags "$prog" "$sub")" -- "$cur"))
    return
  fi
  case "$sub" in
    run | plan | validate | config)
      COMPREPLY=($(compgen -f -X '!*.@(yaml|yml)' -- "$cur") $(compgen -d -- "$cur"))
      ;;
    status | verify | report | recover | merge) COMPREPLY=($(compgen -d -- "$cur")) ;;
  esac
}
complete -F _setlist setlist
