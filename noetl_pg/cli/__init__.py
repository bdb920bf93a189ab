"""What a person types: `noetl-pg` and its subcommands, one module each."""
