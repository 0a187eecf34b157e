#compdef flagctl

_flagctl_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _FLAGCTL_COMPLETE=complete_zsh flagctl)
}

compdef _flagctl_completion flagctl
