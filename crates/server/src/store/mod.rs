//! What the server keeps: the cached app lookup every request uses (`apps`), the SQLite app registry (apps, secrets, webhooks, the webhook queue,
//! console users), password hashing for console users, and minting tokens with an app's secret.

pub mod apps;
pub mod credentials;
pub mod password;
pub mod registry;
pub mod shared;
