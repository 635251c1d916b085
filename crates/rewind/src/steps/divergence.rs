//! The Bernoulli divergences that ρ is made of (Section 3): D(p‖q) in bits, and ρ in the
//! paper's direction D(λ'‖φ) with its boundary conventions and in the code's direction
//! D(φ‖λ') (docs/design.md §2.8). The discrepancy and its null both read them from here.

/// Standard Bernoulli KL divergence D(p‖q) in bits (∞ where q ∈ {0, 1} and p ≠ q).
pub fn kl_bits(p: f64, q: f64) -> f64 {
    let term = |a: f64, b: f64| {
        if a == 0.0 {
            0.0
        } else if b == 0.0 {
            f64::INFINITY
        } else {
            a * (a / b).log2()
        }
    };
    term(p, q) + term(1.0 - p, 1.0 - q)
}

/// ρ as the paper writes it: D(λ' ‖ φ) with the paper's extended notation at the boundary.
pub fn rho_paper(lambda_seen: f64, phi: f64) -> f64 {
    let (p, q) = (lambda_seen, phi);
    if p == 0.0 || p == 1.0 {
        0.0
    } else if q == 1.0 {
        (1.0 / p).log2()
    } else if q == 0.0 {
        (1.0 / (1.0 - p)).log2()
    } else {
        kl_bits(p, q)
    }
}

/// ρ in the direction the code uses: D(φ ‖ λ').
pub fn rho_code(lambda_seen: f64, phi: f64) -> f64 {
    kl_bits(phi, lambda_seen)
}
