//! The `nvfp4` command.
//!
//! `nvfp4 demo [--tokens N] [--seed S]` (the default) simulates the embedded DeepSeek-like MoE
//! layer on the CPU and prints its accuracy against an unquantized f64 reference and its time.

use std::process::ExitCode;

use nvfp4_moe::demo::{self, DemoConfig};

const USAGE: &str = "usage: nvfp4 [demo] [--tokens N] [--seed S]

  demo   simulate the embedded DeepSeek-like MoE layer (H=896, I=256, 32 experts, top-8) on the
         CPU, in W4A4 and W4A16, and compare it with its unquantized f64 reference (no GPU needed)";

fn parse(args: &[String]) -> Result<DemoConfig, String> {
    let mut cfg = DemoConfig::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name}: '{v}' is not a non-negative integer"))
        };
        match a.as_str() {
            "demo" => {}
            "--tokens" => cfg.tokens = value("--tokens")? as usize,
            "--seed" => cfg.seed = value("--seed")?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse(&args) {
        Ok(c) => c,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("nvfp4: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if msg.is_empty() { 0 } else { 2 });
        }
    };
    println!("nvfp4 demo: DeepSeek-like MoE layer on the bit-exact CPU simulator");
    println!(
        "  T={} H={} I={} E={} top-k={}, random N(0, 1/fan_in) weights, N(0, 1) input, seed {}",
        cfg.tokens, cfg.hidden, cfg.intermediate, cfg.experts, cfg.top_k, cfg.seed
    );
    match demo::run(&cfg) {
        Ok(results) => {
            println!(
                "  {:<6} {:>9} {:>10} {:>13}",
                "mode", "cosine", "rel. err", "forward (ms)"
            );
            for r in results {
                println!(
                    "  {:<6} {:>9.5} {:>10.4} {:>13.1}",
                    format!("{:?}", r.mode),
                    r.accuracy.cosine,
                    r.accuracy.rel_error,
                    r.forward.as_secs_f64() * 1e3
                );
            }
            println!(
                "  (accuracy against the unquantized layer in f64; NVFP4 rounds x, w13, the activation and w2)"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nvfp4: {e}");
            ExitCode::FAILURE
        }
    }
}
