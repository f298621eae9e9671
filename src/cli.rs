//! Subcommands (work in progress).
