//! The per-process state every handler shares. Built once at start; nothing in it is
//! mutable except through its own synchronisation.

use crate::config::Settings;
use crate::crypto::{Hasher, KeyRing};
use crate::oauth::bruteforce::Guard;
use crate::oauth::claims::ConstantCache;
use crate::oauth::usage::UsageRecorder;
use crate::oauth::verified::VerifiedCache;
use crate::store::Store;

pub struct AppState {
    pub settings: Settings,
    /// The `iss` of every token, and the base of the discovery documents' URLs.
    pub issuer: String,
    pub store: Store,
    pub keys: KeyRing,
    pub hasher: Hasher,
    pub usage: UsageRecorder,
    pub guard: Guard,
    pub verified: VerifiedCache,
    pub claims: ConstantCache,
}
