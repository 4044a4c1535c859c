//! Measures `decrypt_pkcs1v15` throughput (RSA-2048): one thread, then all cores.
//! Usage: `rsa_rate [seconds]` (default 5 per phase). Run it in release mode.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passbroker_crypto::{KeyBits, RsaKeyPair};

/// Decrypts as fast as possible until `stop`; returns the number of decryptions.
fn worker(kp: &RsaKeyPair, ct: &[u8], stop: &AtomicBool) -> u64 {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if kp.decrypt_pkcs1v15(ct).is_ok() {
            n += 1;
        }
    }
    n
}

fn rate(kp: &Arc<RsaKeyPair>, ct: &Arc<Vec<u8>>, threads: usize, secs: f64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (kp, ct, stop, total) = (kp.clone(), ct.clone(), stop.clone(), total.clone());
            std::thread::spawn(move || {
                total.fetch_add(worker(&kp, &ct, &stop), Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: f64 = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 5.0,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kp = Arc::new(RsaKeyPair::generate(KeyBits::B2048)?);
    let ct = Arc::new(kp.encrypt_pkcs1v15(b"Correct-Horse-Battery-9")?);
    println!("openssl={}", openssl::version::version());
    println!(
        "rsa_bits={} seconds_per_phase={secs} cores={cores}",
        kp.bits()
    );
    println!(
        "pkcs1_decrypt_single_thread_per_s={:.0}",
        rate(&kp, &ct, 1, secs)
    );
    println!(
        "pkcs1_decrypt_all_cores_per_s={:.0}",
        rate(&kp, &ct, cores, secs)
    );
    Ok(())
}
