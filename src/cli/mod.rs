//! The `airun` command line.
