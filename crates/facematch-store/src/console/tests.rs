//! Console users, sessions and tokens on both databases.
