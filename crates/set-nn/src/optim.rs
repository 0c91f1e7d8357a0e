//! Optimizers on flat value slices: SGD with momentum and weight decay, Adam; global-norm
//! gradient clipping. Per-weight state is stored aligned with each parameter's values, so a
//! topology edit's `Remap` moves it along.

use crate::param::Param;
use set_sparse::Scalar;

/// Which optimizer and its settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// SGD with (heavy-ball) momentum and L2 weight decay on matrices:
    /// `v = momentum * v + (g + wd * w)`, `w -= lr * v`. SET's reference: lr 0.01, 0.9, 2e-4.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum coefficient.
        momentum: f64,
        /// L2 weight decay (matrices only).
        weight_decay: f64,
    },
    /// Adam (Kingma & Ba) with bias correction; `weight_decay` is L2 added to the gradient.
    Adam {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Denominator epsilon.
        eps: f64,
        /// L2 weight decay (matrices only).
        weight_decay: f64,
        /// Bias correction per weight, from the steps that weight has taken (as Selfish-RNN's
        /// sparse optimizer keeps), instead of from the optimizer's global step count. A
        /// regrown weight starts with zero moments; with the global count `t` its first update
        /// is `lr / (1 - beta1^t) * 0.1 g / (sqrt(0.001 g^2 / (1 - beta2^t)))`: 1.35 `lr` in the
        /// sign of its gradient at `t` = 200, 2.5 `lr` at 1,000, 3.2 `lr` from ~5,000 on; per
        /// weight it is `lr`, as for every weight at its first step. Keeps two more state buffers (`1 - beta1^n` and `1 - beta2^n` of each weight's step
        /// count `n`: zero for a new weight, so a topology remap's zero fill is right).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        per_weight_steps: bool,
    },
}

impl OptimizerConfig {
    /// SET's reference SGD setting.
    pub fn sgd_default() -> Self {
        OptimizerConfig::Sgd {
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 2e-4,
        }
    }

    /// Adam with the usual betas.
    pub fn adam_default(lr: f64) -> Self {
        OptimizerConfig::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            per_weight_steps: false,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { lr, .. } | OptimizerConfig::Adam { lr, .. } => lr,
        }
    }

    /// Names of the per-weight state buffers, in order.
    pub fn state_names(&self) -> &'static [&'static str] {
        match self {
            OptimizerConfig::Sgd { .. } => &["momentum"],
            OptimizerConfig::Adam {
                per_weight_steps: false,
                ..
            } => &["exp_avg", "exp_avg_sq"],
            OptimizerConfig::Adam {
                per_weight_steps: true,
                ..
            } => &[
                "exp_avg",
                "exp_avg_sq",
                "bias_correction1",
                "bias_correction2",
            ],
        }
    }
}

/// Optimizer state: one set of buffers per parameter, each aligned with its values.
#[derive(Debug, Clone)]
pub struct Optimizer<T: Scalar> {
    /// Settings.
    pub config: OptimizerConfig,
    /// `state[p][k]` is buffer `k` (see [`OptimizerConfig::state_names`]) of parameter `p`.
    pub state: Vec<Vec<Vec<T>>>,
    /// Steps taken (Adam's bias correction uses it).
    pub steps: u64,
}

impl<T: Scalar> Optimizer<T> {
    /// Zero state for the given parameters.
    pub fn new<'a>(
        config: OptimizerConfig,
        params: impl IntoIterator<Item = &'a Param<T>>,
    ) -> Self {
        let k = config.state_names().len();
        let state = params
            .into_iter()
            .map(|p| vec![vec![T::zero(); p.values().len()]; k])
            .collect();
        Optimizer {
            config,
            state,
            steps: 0,
        }
    }

    /// Applies one update to every parameter from its gradient.
    ///
    /// # Panics
    /// If the parameters do not match the state (a caller bug).
    #[track_caller]
    pub fn step<'a>(&mut self, params: impl IntoIterator<Item = &'a mut Param<T>>) {
        self.step_scaled(params, 1.0);
    }

    /// [`Optimizer::step`] with the learning rate multiplied by `lr_factor` (a learning-rate
    /// schedule's value at this step; 1 gives exactly `step`).
    ///
    /// # Panics
    /// If the parameters do not match the state (a caller bug).
    #[track_caller]
    pub fn step_scaled<'a>(
        &mut self,
        params: impl IntoIterator<Item = &'a mut Param<T>>,
        lr_factor: f64,
    ) {
        self.steps += 1;
        let t = self.steps as f64;
        for (p, st) in params.into_iter().zip(self.state.iter_mut()) {
            let decay = p.is_matrix();
            let grad = &p.grad;
            let values = p.value.values_mut();
            assert_eq!(grad.len(), values.len(), "{}: gradient length", p.name);
            match self.config {
                OptimizerConfig::Sgd {
                    lr,
                    momentum,
                    weight_decay,
                } => {
                    let (lr, mu, wd) = (
                        T::of_f64(lr * lr_factor),
                        T::of_f64(momentum),
                        T::of_f64(if decay { weight_decay } else { 0.0 }),
                    );
                    let v = &mut st[0];
                    assert_eq!(v.len(), values.len(), "{}: optimizer state length", p.name);
                    for ((w, &g), m) in values.iter_mut().zip(grad).zip(v.iter_mut()) {
                        *m = mu * *m + g + wd * *w;
                        *w -= lr * *m;
                    }
                }
                OptimizerConfig::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    per_weight_steps,
                } => {
                    let c1 = 1.0 - beta1.powf(t);
                    let c2 = 1.0 - beta2.powf(t);
                    let step = T::of_f64(lr * lr_factor / c1);
                    let (b1, b2, c2s, e) = (
                        T::of_f64(beta1),
                        T::of_f64(beta2),
                        T::of_f64(c2.sqrt()),
                        T::of_f64(eps),
                    );
                    let wd = T::of_f64(if decay { weight_decay } else { 0.0 });
                    let (m, rest) = st.split_at_mut(1);
                    let (m, rest) = (&mut m[0], rest);
                    assert_eq!(m.len(), values.len(), "{}: optimizer state length", p.name);
                    let one = T::one();
                    if per_weight_steps {
                        let [v, d1, d2] = rest else {
                            panic!("{}: per-weight Adam keeps four state buffers", p.name)
                        };
                        let lr = T::of_f64(lr * lr_factor);
                        for (((((w, &g), mk), vk), d1k), d2k) in values
                            .iter_mut()
                            .zip(grad)
                            .zip(m.iter_mut())
                            .zip(v.iter_mut())
                            .zip(d1.iter_mut())
                            .zip(d2.iter_mut())
                        {
                            let g = g + wd * *w;
                            *mk = b1 * *mk + (one - b1) * g;
                            *vk = b2 * *vk + (one - b2) * g * g;
                            // 1 - beta^(n + 1) = (1 - beta) + beta (1 - beta^n).
                            *d1k = b1 * *d1k + (one - b1);
                            *d2k = b2 * *d2k + (one - b2);
                            *w -= lr / *d1k * *mk / ((*vk).sqrt() / (*d2k).sqrt() + e);
                        }
                    } else {
                        let v = &mut rest[0];
                        for (((w, &g), mk), vk) in values
                            .iter_mut()
                            .zip(grad)
                            .zip(m.iter_mut())
                            .zip(v.iter_mut())
                        {
                            let g = g + wd * *w;
                            *mk = b1 * *mk + (one - b1) * g;
                            *vk = b2 * *vk + (one - b2) * g * g;
                            *w -= step * *mk / ((*vk).sqrt() / c2s + e);
                        }
                    }
                }
            }
        }
    }

    /// Bytes of optimizer state.
    pub fn memory_bytes(&self) -> usize {
        self.state
            .iter()
            .flatten()
            .map(|b| b.len() * T::BYTES)
            .sum()
    }

    /// Index of the momentum-like buffer (SGD momentum, Adam's first moment).
    pub fn momentum_index(&self) -> usize {
        0
    }
}

/// Scales all gradients so their global L2 norm is at most `max_norm`; returns the norm before
/// clipping. The norm is a fixed-order reduction, identical for any thread count.
pub fn clip_global_norm<'a, T: Scalar>(
    params: impl IntoIterator<Item = &'a mut Param<T>>,
    max_norm: f64,
) -> f64 {
    let mut params: Vec<&mut Param<T>> = params.into_iter().collect();
    let norm = params
        .iter()
        .map(|p| set_sparse::reduce::sum_squares(&p.grad))
        .sum::<f64>()
        .sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let s = T::of_f64(max_norm / (norm + 1e-6));
        for p in params.iter_mut() {
            p.grad.iter_mut().for_each(|g| *g *= s);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::ParamValue;
    use ndarray::array;

    fn param(v: f64, g: f64) -> Param<f64> {
        let mut p = Param::new("w", ParamValue::Dense(array![[v]]));
        p.grad = vec![g];
        p
    }

    #[test]
    fn sgd_momentum_matches_hand_computation() {
        let mut p = param(1.0, 0.5);
        let mut opt = Optimizer::new(
            OptimizerConfig::Sgd {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 0.01,
            },
            [&p],
        );
        opt.step([&mut p]);
        // v = 0.5 + 0.01 * 1 = 0.51; w = 1 - 0.051
        assert!((p.values()[0] - 0.949).abs() < 1e-12);
        opt.step([&mut p]);
        // v = 0.9 * 0.51 + 0.5 + 0.01 * 0.949
        let v2 = 0.9 * 0.51 + 0.5 + 0.00949;
        assert!((p.values()[0] - (0.949 - 0.1 * v2)).abs() < 1e-12);
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        let mut p = param(1.0, 3.0);
        let mut opt = Optimizer::new(OptimizerConfig::adam_default(0.01), [&p]);
        opt.step([&mut p]);
        assert!((p.values()[0] - 0.99).abs() < 1e-6);
    }

    /// Per-weight bias correction: with no topology change it follows the global one (to
    /// rounding); a weight whose state is zeroed mid-run (a regrown weight: zero moments, zero
    /// step count) then moves by `lr` at its first step, where the global count moves it by
    /// about `3.2 lr`.
    #[test]
    fn per_weight_steps_give_a_new_weight_a_first_step_of_lr() {
        let per_weight = OptimizerConfig::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            per_weight_steps: true,
        };
        assert_eq!(per_weight.state_names().len(), 4);
        let (mut a, mut b) = (param(1.0, 3.0), param(1.0, 3.0));
        let mut global = Optimizer::new(OptimizerConfig::adam_default(0.01), [&a]);
        let mut local = Optimizer::new(per_weight, [&b]);
        for k in 0..200 {
            let g = (k as f64 * 0.37).sin();
            a.grad = vec![g];
            b.grad = vec![g];
            global.step([&mut a]);
            local.step([&mut b]);
            assert!((a.values()[0] - b.values()[0]).abs() < 1e-9, "step {k}");
        }
        // Regrow: zero state, as a topology remap leaves a new entry.
        for st in global.state[0].iter_mut().chain(local.state[0].iter_mut()) {
            st[0] = 0.0;
        }
        let (wa, wb) = (a.values()[0], b.values()[0]);
        a.grad = vec![-2.0];
        b.grad = vec![-2.0];
        global.step([&mut a]);
        local.step([&mut b]);
        assert!(
            (b.values()[0] - wb - 0.01).abs() < 1e-9,
            "{}",
            b.values()[0] - wb
        );
        // The global count (t = 201) corrects the zeroed moments as if they were 201 steps old.
        let (c1, c2) = (1.0 - 0.9f64.powi(201), 1.0 - 0.999f64.powi(201));
        let want = 0.01 / c1 * 0.2 / ((0.004f64).sqrt() / c2.sqrt() + 1e-8);
        let moved = a.values()[0] - wa;
        assert!((moved - want).abs() < 1e-9, "{moved} {want}");
        assert!(moved > 1.3 * 0.01, "{moved}");
        // Old settings files (no field) read as the global count, and it is not written.
        let json = serde_json::to_string(&OptimizerConfig::adam_default(0.01)).unwrap();
        assert!(!json.contains("per_weight_steps"), "{json}");
        let back: OptimizerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, OptimizerConfig::adam_default(0.01));
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let mut a = param(0.0, 3.0);
        let mut b = param(0.0, 4.0);
        let n = clip_global_norm([&mut a, &mut b], 1.0);
        assert_eq!(n, 5.0);
        let after = (a.grad[0].powi(2) + b.grad[0].powi(2)).sqrt();
        assert!((after - 1.0).abs() < 1e-5);
    }
}
