//! Manual Checks listings and console reviews on both databases.
