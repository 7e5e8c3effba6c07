import { CONNECTION_FLAGS, GLOBAL_FLAGS, LIST_FLAGS, OPTIONS } from "./context.js";
import { FORMATS } from "./output.js";
import type { CommandSpec, Completes } from "./commands/command.js";

/** How a shell lists the names an argument completes to: umlctl itself, quietly (nothing when the daemon is away). */
const LISTERS: Record<Completes, string> = {
  instance: "ls -c name",
  network: "net ls -c name",
  tenant: "tenant ls -c name",
  image: "image ls -c name",
  kernel: "kernel ls -c name",
  disk: "disk ls -c name",
};

const dashed = (flags: readonly string[]) => flags.map((f) => `--${f}`).join(" ");
const flagsOf = (c: CommandSpec) => dashed([...GLOBAL_FLAGS, ...(c.lists ? LIST_FLAGS : []), ...(c.flags ?? [])]);

/** Flags followed by a value (so the value is not taken for the command or an argument), as a shell case pattern. */
function valueFlags(): string {
  const out: string[] = [];
  for (const [name, o] of Object.entries(OPTIONS)) {
    if (o.type !== "string" || (CONNECTION_FLAGS as readonly string[]).includes(name)) continue;
    out.push(`--${name}`);
    if ("short" in o) out.push(`-${o.short}`);
  }
  return out.join("|");
}
const connection = CONNECTION_FLAGS.map((f) => `--${f}`).join("|");

/** A bash completion script for the command table (`source <(umlctl completion bash)`). */
export function bashCompletion(table: CommandSpec[]): string {
  const cases = table.map((c) => {
    const subs = c.subs ? `subs="${c.subs.join(" ")}"` : `subs=""`;
    const names = c.completes ? `names="${LISTERS[c.completes]}"` : `names=""`;
    return `    ${c.name}) ${subs}; ${names}; flags="${flagsOf(c)}" ;;`;
  });
  return `# bash completion for umlctl, generated from its command table (umlctl completion bash)
_umlctl() {
  local cur prev cmd="" i w v subs="" names="" flags="" nargs=0 skip=0
  local -a conn=()
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    --format) COMPREPLY=( $(compgen -W "${FORMATS.join(" ")}" -- "$cur") ); return ;;
    --state-dir|--tar|--dir|--raw) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    ${connection}|${valueFlags()}) return ;;
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [ "$skip" -gt 0 ]; then skip=$((skip - 1)); continue; fi
    case "$w" in
      # where the daemon is: passed on to the umlctl that lists names
      ${connection})
        v="\${COMP_WORDS[i+1]}"; skip=1
        if [ "$v" = "=" ]; then v="\${COMP_WORDS[i+2]}"; skip=2; fi
        conn+=("$w" "$v") ;;
      ${valueFlags()}) skip=1; [ "\${COMP_WORDS[i+1]}" = "=" ] && skip=2 ;;
      -*) ;;
      *) if [ -z "$cmd" ]; then cmd="$w"; else nargs=$((nargs + 1)); fi ;;
    esac
  done
  if [ -z "$cmd" ]; then
    COMPREPLY=( $(compgen -W "${table.map((c) => c.name).join(" ")} ${dashed(GLOBAL_FLAGS)}" -- "$cur") )
    return
  fi
  case "$cmd" in
${cases.join("\n")}
    *) return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
  elif [ -n "$subs" ] && [ "$nargs" -eq 0 ]; then
    COMPREPLY=( $(compgen -W "$subs" -- "$cur") )
  elif [ -n "$names" ] && [ "$nargs" -eq "$([ -n "$subs" ] && echo 1 || echo 0)" ]; then
    COMPREPLY=( $(compgen -W "$(umlctl "\${conn[@]}" $names --format csv --no-headers 2>/dev/null)" -- "$cur") )
  fi
}
complete -F _umlctl umlctl
`;
}

/** A zsh completion script (`source <(umlctl completion zsh)`, or saved as _umlctl on $fpath). */
export function zshCompletion(table: CommandSpec[]): string {
  const esc = (s: string) => s.replace(/'/g, "'\\''").replace(/:/g, "\\:");
  const commands = table.map((c) => `'${c.name}:${esc(c.help[0]!.replace(/\s{2,}.*$/, "").slice(0, 70))}'`);
  const cases = table.map((c) => {
    const subs = c.subs ? `subs=(${c.subs.join(" ")})` : "subs=()";
    const names = c.completes ? `names='${LISTERS[c.completes]}'` : "names=''";
    return `    ${c.name}) ${subs}; ${names}; flags=(${flagsOf(c)}) ;;`;
  });
  return `#compdef umlctl
# zsh completion for umlctl, generated from its command table (umlctl completion zsh)
_umlctl() {
  local -a commands subs flags conn
  local names="" cmd="" nargs=0 i w
  commands=(${commands.join(" ")})
  for (( i = 2; i < CURRENT; i++ )); do
    w=\${words[i]}
    case $w in
      ${connection}) conn+=($w \${words[i+1]}); (( i++ )) ;;
      ${valueFlags()}) (( i++ )) ;;
      -*) ;;
      *) if [[ -z $cmd ]]; then cmd=$w; else (( nargs++ )); fi ;;
    esac
  done
  if [[ \${words[CURRENT-1]} == --format ]]; then compadd ${FORMATS.join(" ")}; return; fi
  if [[ -z $cmd ]]; then _describe 'command' commands; return; fi
  case $cmd in
${cases.join("\n")}
    *) return ;;
  esac
  if [[ $PREFIX == -* ]]; then compadd -- $flags; return; fi
  if (( \${#subs} )) && (( nargs == 0 )); then compadd -- $subs; return; fi
  if [[ -n $names ]] && { (( \${#subs} == 0 && nargs == 0 )) || (( \${#subs} && nargs == 1 )); }; then
    compadd -- \${(f)"$(umlctl $conn \${=names} --format csv --no-headers 2>/dev/null)"}
  fi
}
if [[ $zsh_eval_context[-1] == loadautoload ]]; then _umlctl "$@"; else compdef _umlctl umlctl; fi
`;
}
