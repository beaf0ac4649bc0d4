//! Writes many clients straight into Redis for `scripts/bench.sh` (through the admin API
//! each would cost an argon2 hash). All share one secret's hash, which is fine for load.
//!
//! `cargo run --release --example seed -- REDIS_URL PREFIX COUNT`

use tokenmint::config::Settings;
use tokenmint::crypto::{Hasher, PlainSecret};
use tokenmint::domain::fields;
use tokenmint::domain::{
    Client, ClientId, Expiry, OrganizationId, Secret, SecretId, SecretStatus, Timestamp,
};
use tokenmint::store::Store;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, prefix, count] = args.as_slice() else {
        panic!("usage: seed REDIS_URL PREFIX COUNT");
    };
    let count: usize = count.parse().expect("COUNT is a number");
    let settings = Settings::defaults();
    let mut redis = settings.redis.clone();
    redis.url = url.clone();
    redis.key_prefix = prefix.clone();
    redis.timeout = std::time::Duration::from_millis(5000);
    redis.client_cache_entries = 0;
    let store = Store::redis(&redis).await.expect("Redis is reachable");
    let hasher = Hasher::new(&settings.argon2).unwrap();
    let plain = PlainSecret::generate("tm_");
    let hash = hasher.hash(&plain).await.unwrap();
    let org = OrganizationId::parse("seeded_org").unwrap();
    let mut done = 0;
    while done < count {
        let batch = (count - done).min(256);
        let writes = (0..batch).map(|_| {
            let now = Timestamp::now();
            let client = Client {
                version: 1,
                client_id: ClientId::generate(true),
                organization_id: Some(org.clone()),
                name: "seeded".into(),
                description: String::new(),
                scopes: fields::scopes(&serde_json::json!(["read:things"]), "scopes")
                    .expect("a valid scope"),
                audience: fields::audience(
                    &serde_json::json!(["https://api.example.com"]),
                    "audience",
                )
                .expect("a valid audience"),
                custom_claims: vec![],
                expiry: Expiry::from_secs(3600),
                labels: Default::default(),
                create_time: now,
                update_time: now,
                creator: None,
                updater: None,
                secrets: vec![Secret {
                    id: SecretId::generate(),
                    display_name: String::new(),
                    status: SecretStatus::Active,
                    environments: Default::default(),
                    labels: Default::default(),
                    sdk_type: Default::default(),
                    create_time: now,
                    update_time: now,
                    creator: None,
                    updater: None,
                    expire_time: None,
                    proof: tokenmint::domain::Proof::ClientSecret {
                        secret_suffix: plain.suffix(),
                        hash: hash.clone(),
                    },
                    tokens_not_before: None,
                }],
                tokens_not_before: None,
            };
            let store = store.clone();
            async move { store.create_client(&client).await.expect("write a client") }
        });
        futures_util::future::join_all(writes).await;
        done += batch;
    }
    println!("{done}");
}
