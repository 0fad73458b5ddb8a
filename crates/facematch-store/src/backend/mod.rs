//! The two databases a [`Store`](crate::Store) runs on, each behind [`Database`](crate::sql::Database):
//! the embedded SQLite file ([`sqlite`]) and a PostgreSQL server shared by replicas ([`postgres`]).

pub(crate) mod postgres;
pub(crate) mod sqlite;

#[cfg(test)]
mod tests;
