"""flagctl: the command-line tool for flagd."""
