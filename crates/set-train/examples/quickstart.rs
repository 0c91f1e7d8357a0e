//! Trains a SET-LSTM on the shipped UCI sentences, prints its test accuracy and parameter count,
//! and saves it: `cargo run --release -p set-train --example quickstart -- model.safetensors`,
//! then `set-lstm predict --model model.safetensors "a great film"`.

use set_train::{DataConfig, ModelSpec, RunData, Trainer, TrainerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or("model.safetensors".into());
    let datasets = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets");
    let data = RunData::load(&DataConfig::registry("uci", datasets), 42, None)?;
    // Embedding and LSTM weights stored sparse from the start (Erdős–Rényi, epsilon 5); after
    // every epoch SET prunes 30 % of each matrix's weights and regrows as many at random.
    let spec = ModelSpec::new(data.vocab.len(), 128, 128, data.num_classes());
    let mut trainer = Trainer::new(spec, TrainerConfig::default(), &data)?;
    trainer.fit(&data, &mut ())?;
    let (_, test) = trainer.final_evaluation(&data)?;
    let r = set_train::set_nn::model_report(trainer.model(), None);
    println!(
        "test accuracy {:.4} | params {} of {} dense ({:.2}%)",
        test.map_or(f64::NAN, |t| t.accuracy),
        r.total_params,
        r.dense_params,
        100.0 * r.density
    );
    trainer.bundle(&data.vocab).save(&out)?;
    println!("saved {out}");
    Ok(())
}
