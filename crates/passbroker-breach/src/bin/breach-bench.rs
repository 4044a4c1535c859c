//! The breach benchmark's helper (see benches/breach.sh):
//! - `generate N FILE`: a synthetic corpus in the Pwned Passwords format: N random SHA-1
//!   hashes, `HASH:COUNT` lines sorted as the real file is, counts skewed like the real ones
//!   (most seen a few times, a few millions of times);
//! - `lookups INDEX COUNT`: COUNT lookups of random hashes (every one reads its prefix's
//!   records), printing p50, p99 and max in microseconds.

use passbroker_breach::{BreachIndex, PREFIXES};
use rand::Rng;
use std::io::Write;
use std::time::Instant;

fn count(rng: &mut impl Rng) -> u64 {
    // About half are seen once; each further decade is about a third as likely.
    let mut c: u64 = 1;
    while rng.gen_bool(0.35) && c < 100_000_000 {
        c *= 10;
    }
    c * rng.gen_range(1..10)
}

fn generate(n: u64, file: &str) -> std::io::Result<()> {
    let mut rng = rand::thread_rng();
    let mut out = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(file)?);
    let per_prefix = n as f64 / PREFIXES as f64;
    let mut written = 0u64;
    let mut carry = 0.0f64;
    let mut bucket: Vec<[u8; 20]> = Vec::new();
    for prefix in 0..PREFIXES {
        carry += per_prefix;
        let k = carry.floor() as usize;
        carry -= k as f64;
        bucket.clear();
        for _ in 0..k {
            let mut h = [0u8; 20];
            rng.fill(&mut h[..]);
            h[0] = (prefix >> 12) as u8;
            h[1] = (prefix >> 4) as u8;
            h[2] = ((prefix as u8 & 0x0f) << 4) | (h[2] & 0x0f);
            bucket.push(h);
        }
        bucket.sort_unstable();
        bucket.dedup();
        for h in &bucket {
            writeln!(out, "{}:{}\r", hex::encode_upper(h), count(&mut rng))?;
            written += 1;
        }
    }
    out.flush()?;
    eprintln!("wrote {written} hashes to {file}");
    Ok(())
}

fn lookups(index: &str, n: usize) -> Result<(), passbroker_breach::BreachError> {
    let index = BreachIndex::open(std::path::Path::new(index))?;
    let mut rng = rand::thread_rng();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let mut h = [0u8; 20];
        rng.fill(&mut h[..]);
        let start = Instant::now();
        let _ = index.lookup(&h)?;
        times.push(start.elapsed().as_nanos() as f64 / 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "lookups={n} p50_us={:.1} p99_us={:.1} max_us={:.1}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("generate") if args.len() == 4 => args[2]
            .parse()
            .map_err(|e| format!("N: {e}"))
            .and_then(|n| generate(n, &args[3]).map_err(|e| e.to_string())),
        Some("lookups") if args.len() == 4 => args[3]
            .parse()
            .map_err(|e| format!("COUNT: {e}"))
            .and_then(|n| lookups(&args[2], n).map_err(|e| e.to_string())),
        _ => Err("usage: breach-bench generate N FILE | lookups INDEX COUNT".to_owned()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
