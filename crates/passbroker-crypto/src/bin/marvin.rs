//! Marvin-style timing experiment (a tool, not a test): does `decrypt_pkcs1v15` take
//! measurably different time for valid and invalid PKCS#1 v1.5 padding?
//!
//! Usage: `marvin [N]` (default 20000 per class); run in release, on an idle machine.
//! Valid: PKCS#1 v1.5 encryptions of random messages whose lengths are uniform over
//! 0..=k-11 bytes, as implicit rejection's synthetic messages are (an earlier version used
//! 48-byte messages only, so the classes also differed in how many bytes came back, which a
//! rank test picked up). Invalid: the same structure with block type 03 instead of 02 (raw
//! RSA), i.e. only the padding check differs. Measurements are taken in random interleaved order so drift (frequency
//! scaling, other load) hits both classes alike. This is a quick screen; tlsfuzzer's
//! analysis (pairwise tests, more classes, millions of samples) is the real thing.

use std::time::Instant;

use passbroker_crypto::random::random_bytes;
use passbroker_crypto::rsa_keys::{bad_padding_block, raw_encrypt_block};
use passbroker_crypto::{KeyBits, RsaKeyPair};
use rand::seq::SliceRandom as _;

/// Standard normal upper-tail probability ×2 (two-sided p), via erfc
/// (Numerical Recipes `erfcc`, relative error < 1.2e-7 — fine for tiny p too).
fn two_sided_p(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    (t * poly.exp()).min(1.0)
}

struct Summary {
    n: usize,
    median: f64,
    mean: f64,
    trimmed: Vec<f64>, // middle 90%
}

fn summarize(mut v: Vec<f64>) -> Summary {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let cut = n / 20;
    Summary {
        n,
        median: v[n / 2],
        mean: v.iter().sum::<f64>() / n as f64,
        trimmed: v[cut..n - cut].to_vec(),
    }
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0);
    (m, var)
}

/// Mann-Whitney U as a z-score (normal approximation, mid-ranks for ties).
fn mann_whitney_z(a: &[f64], b: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut rank_sum_a, mut i) = (0.0, 0);
    while i < all.len() {
        let j = (i..all.len())
            .find(|&j| all[j].0 != all[i].0)
            .unwrap_or(all.len());
        let mid_rank = (i + j + 1) as f64 / 2.0;
        rank_sum_a += mid_rank * all[i..j].iter().filter(|e| e.1).count() as f64;
        i = j;
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let u = rank_sum_a - na * (na + 1.0) / 2.0;
    (u - na * nb / 2.0) / (na * nb * (na + nb + 1.0) / 12.0).sqrt()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 20_000,
    };
    if n < 100 {
        return Err("N must be at least 100".into());
    }
    let kp = RsaKeyPair::generate(KeyBits::B2048)?;
    let (k, spki) = (kp.modulus_bytes(), kp.public_spki_der()?);
    let mut cts: Vec<(bool, Vec<u8>)> = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let len = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=k - 11);
        cts.push((true, kp.encrypt_pkcs1v15(&random_bytes(len))?));
        cts.push((
            false,
            raw_encrypt_block(&spki, &bad_padding_block(k, &random_bytes(48)))?,
        ));
    }
    cts.shuffle(&mut rand::thread_rng());
    for (_, ct) in cts.iter().take(200) {
        let _ = kp.decrypt_pkcs1v15(ct); // warm-up: caches, blinding, CPU clock
    }
    let (mut valid, mut invalid) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (is_valid, ct) in &cts {
        let t = Instant::now();
        let r = kp.decrypt_pkcs1v15(ct);
        let ns = t.elapsed().as_nanos() as f64;
        if r.is_err() {
            return Err("a same-length ciphertext was rejected: no implicit rejection".into());
        }
        if *is_valid {
            valid.push(ns)
        } else {
            invalid.push(ns)
        }
    }

    println!("openssl={} N={n} per class", openssl::version::version());
    let (sv, si) = (summarize(valid), summarize(invalid));
    for (name, s) in [("valid", &sv), ("invalid", &si)] {
        let (tm, _) = mean_var(&s.trimmed);
        println!(
            "{name:>8}: count={} median={:.0}ns mean={:.0}ns trimmed_mean(90%)={tm:.0}ns",
            s.n, s.median, s.mean
        );
    }
    let ((ma, va), (mb, vb)) = (mean_var(&sv.trimmed), mean_var(&si.trimmed));
    let se = (va / sv.trimmed.len() as f64 + vb / si.trimmed.len() as f64).sqrt();
    let diff = mb - ma;
    let t = diff / se;
    let p_t = two_sided_p(t);
    let z = mann_whitney_z(&sv.trimmed, &si.trimmed);
    let p_mw = two_sided_p(z);
    println!("welch_t(middle 90%): diff(invalid-valid)={diff:.1}ns t={t:.2} p={p_t:.3e}");
    println!("mann_whitney(middle 90%): z={z:.2} p={p_mw:.3e}");
    // Bonferroni over the two tests at α = 0.001 (tlsfuzzer's default threshold).
    if p_t.min(p_mw) < 0.0005 {
        println!(
            "verdict: classes differ by {diff:.0} ns (p≈{:.1e})",
            p_t.min(p_mw)
        );
    } else {
        println!(
            "verdict: no difference detected at ±{:.0} ns (95% CI of the trimmed-mean difference)",
            1.96 * se + diff.abs()
        );
    }
    Ok(())
}
