//! `set-lstm`: train, resume, evaluate, inspect, export and benchmark truly sparse LSTM
//! sentiment classifiers (SET-LSTM). Everything lives in the `set_cli` library.

fn main() {
    std::process::exit(set_cli::main());
}
