//! Pages: one module per route.

pub mod home;
pub mod storyboard;
