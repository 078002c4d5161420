//! The statistical model: multinomial logistic regression over hashed
//! features (see [`crate::features`]).
//!
//! It is this project's own, about 200 lines, rather than a `linfa`
//! model: `linfa-logistic` works on dense `ndarray` matrices, and 65,536
//! hashed features times thousands of messages do not fit a dense matrix in
//! memory. Training is deterministic: examples are read in a fixed order and
//! shuffled with a seeded generator, and all arithmetic runs on one thread,
//! so the same input gives a byte-identical model file.

use std::io::{Read, Write};

use crate::features::{BUCKETS, FEATURE_VERSION, distinct};

/// The classes, in the order of the model's outputs.
pub const CLASSES: [&str; 3] = ["phish", "spam", "ham"];
pub const PHISH: usize = 0;
pub const SPAM: usize = 1;
pub const HAM: usize = 2;

const MAGIC: &[u8; 8] = b"PLMODEL1";

/// The part of a corpus a model was trained on: a message is in the
/// training part when the first eight bytes of its SHA-256, read as a
/// big-endian number, fall below `train_share` of the range. Evaluation
/// skips those messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    pub train_share: f64,
}

impl Split {
    /// True when a message with this SHA-256 belongs to the training part.
    pub fn is_training(&self, sha256: &[u8; 32]) -> bool {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&sha256[..8]);
        (u64::from_be_bytes(prefix) as f64) < self.train_share * u64::MAX as f64
    }
}

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f64,
    pub l2: f64,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { epochs: 12, learning_rate: 0.3, l2: 1e-6, seed: 0x005e_ed0f_9a11 }
    }
}

/// One labelled example: feature buckets and a class index.
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Vec<u32>,
    pub label: usize,
    /// How much the example counts relative to others of its class (1 for
    /// plain training; see `phishloop train` for source balancing).
    pub weight: f64,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: String,
    pub split: Split,
    /// Training examples per class.
    pub trained_on: [u64; 3],
    bias: [f32; 3],
    /// `BUCKETS` groups of `CLASSES.len()` weights, one per class, at
    /// [`slot`]. Every prediction reads all classes of a few hundred
    /// buckets, and a bucket's 12 contiguous bytes span one or two cache
    /// lines where one row per class spanned three. The model file stores
    /// one row of `BUCKETS` weights per class.
    weights: Vec<f32>,
}

/// An error reading a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a phishloop model file (wrong magic bytes)")]
    Magic,
    #[error(
        "the model uses feature version {found}, but this phishloop computes version {expected}; retrain it with `phishloop train`"
    )]
    FeatureVersion { found: u32, expected: u32 },
    #[error("the model file is truncated or damaged: {0}")]
    Damaged(String),
}

impl Model {
    /// Class probabilities for a message's features.
    pub fn predict(&self, features: &[u32]) -> [f64; 3] {
        self.predict_distinct(&distinct(features))
    }

    /// Class probabilities for a message's features given as
    /// [`distinct`] returns them: each bucket once, in ascending order.
    pub fn predict_distinct(&self, distinct: &[u32]) -> [f64; 3] {
        softmax(self.logits(distinct))
    }

    /// The features with the largest contribution towards `class`, as
    /// bucket and contribution, largest first.
    pub fn top_contributions(&self, features: &[u32], class: usize, count: usize) -> Vec<(u32, f64)> {
        self.top_contributions_distinct(&distinct(features), class, count)
    }

    /// Like [`Model::top_contributions`], for features given as
    /// [`distinct`] returns them.
    pub fn top_contributions_distinct(&self, distinct: &[u32], class: usize, count: usize) -> Vec<(u32, f64)> {
        // Buckets are unique, so this order is total, and keeping the first
        // `count` of the order while going through the buckets gives what a
        // full sort would.
        let order = |left: &(u32, f64), right: &(u32, f64)| right.1.total_cmp(&left.1).then(left.0.cmp(&right.0));
        let mut top: Vec<(u32, f64)> = Vec::with_capacity(count.min(distinct.len()) + 1);
        if count == 0 {
            return top;
        }
        for &bucket in distinct {
            let own = f64::from(self.weights[slot(class, bucket)]);
            let others = (0..CLASSES.len())
                .filter(|&other| other != class)
                .map(|other| f64::from(self.weights[slot(other, bucket)]))
                .fold(f64::MIN, f64::max);
            let candidate = (bucket, own - others);
            // Only positive contributions count, which leaves out NaN too.
            let positive = candidate.1 > 0.0;
            if !positive {
                continue;
            }
            if top.len() == count && top.last().is_some_and(|last| order(&candidate, last).is_ge()) {
                continue;
            }
            let position = top.partition_point(|kept| order(kept, &candidate).is_lt());
            top.insert(position, candidate);
            top.truncate(count);
        }
        top
    }

    /// Sums the weights of `distinct` per class, in the order of
    /// `distinct`, and adds each class's bias.
    fn logits(&self, distinct: &[u32]) -> [f64; 3] {
        // `-0.0` is where `Iterator::sum` of `f64` starts, which earlier
        // versions used, so every sum is the same to the last bit.
        let mut sums = [-0.0f64; 3];
        for &bucket in distinct {
            let weights = &self.weights[slot(0, bucket)..slot(0, bucket) + CLASSES.len()];
            for (sum, weight) in sums.iter_mut().zip(weights) {
                *sum += f64::from(*weight);
            }
        }
        let mut logits = [0.0f64; 3];
        for (class, logit) in logits.iter_mut().enumerate() {
            *logit = f64::from(self.bias[class]) + sums[class];
        }
        logits
    }

    /// Trains a model on `examples`, which must already be in a fixed order.
    pub fn train(name: &str, split: Split, examples: &[Example], options: &TrainOptions) -> Model {
        let mut trained_on = [0u64; 3];
        let mut class_mass = [0f64; 3];
        for example in examples {
            trained_on[example.label] += 1;
            class_mass[example.label] += example.weight;
        }
        // Weigh classes inversely to their (weighted) size, so that a small
        // class (spam) is not ignored.
        let total: f64 = class_mass.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let class_weight: Vec<f64> = class_mass
            .iter()
            .map(|&mass| if mass <= 0.0 { 0.0 } else { total / (CLASSES.len() as f64 * mass) })
            .collect();

        let prepared: Vec<Vec<u32>> = examples
            .iter()
            .map(|example| {
                let mut unique = example.features.clone();
                unique.sort_unstable();
                unique.dedup();
                unique
            })
            .collect();

        let mut model = Model {
            name: name.to_string(),
            split,
            trained_on,
            bias: [0.0; 3],
            weights: vec![0.0; CLASSES.len() * BUCKETS],
        };
        let mut squared_gradients = vec![1e-8f64; CLASSES.len() * BUCKETS];
        let mut bias_squared = [1e-8f64; 3];
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut random = XorShift(options.seed.max(1));

        for _ in 0..options.epochs {
            random.shuffle(&mut order);
            for &index in &order {
                let features = &prepared[index];
                let label = examples[index].label;
                let weight = class_weight[label] * examples[index].weight;
                let probabilities = softmax(model.logits(features));
                for class in 0..CLASSES.len() {
                    let target = if class == label { 1.0 } else { 0.0 };
                    let error = (probabilities[class] - target) * weight;
                    bias_squared[class] += error * error;
                    model.bias[class] -= (options.learning_rate * error / bias_squared[class].sqrt()) as f32;
                    for &bucket in features {
                        let index = slot(class, bucket);
                        let gradient = error + options.l2 * f64::from(model.weights[index]);
                        squared_gradients[index] += gradient * gradient;
                        model.weights[index] -=
                            (options.learning_rate * gradient / squared_gradients[index].sqrt()) as f32;
                    }
                }
            }
        }
        model
    }

    /// Writes the model in its binary format: magic, versions, name, split,
    /// counts, biases and weights, little-endian.
    ///
    /// # Errors
    ///
    /// Returns the writer's error.
    pub fn write(&self, mut output: impl Write) -> std::io::Result<()> {
        output.write_all(MAGIC)?;
        output.write_all(&FEATURE_VERSION.to_le_bytes())?;
        output.write_all(&(BUCKETS as u32).to_le_bytes())?;
        output.write_all(&(CLASSES.len() as u32).to_le_bytes())?;
        output.write_all(&(self.name.len() as u32).to_le_bytes())?;
        output.write_all(self.name.as_bytes())?;
        output.write_all(&self.split.train_share.to_le_bytes())?;
        for count in self.trained_on {
            output.write_all(&count.to_le_bytes())?;
        }
        for bias in self.bias {
            output.write_all(&bias.to_le_bytes())?;
        }
        for class in 0..CLASSES.len() {
            for bucket in 0..BUCKETS as u32 {
                output.write_all(&self.weights[slot(class, bucket)].to_le_bytes())?;
            }
        }
        Ok(())
    }

    /// Reads a model written by [`Model::write`].
    ///
    /// # Errors
    ///
    /// Returns [`ModelError`] for another file type, a model of another
    /// feature version, or a damaged file.
    pub fn read(mut input: impl Read) -> Result<Model, ModelError> {
        let damaged = |error: std::io::Error| ModelError::Damaged(error.to_string());
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).map_err(damaged)?;
        if &magic != MAGIC {
            return Err(ModelError::Magic);
        }
        let version = read_u32(&mut input)?;
        if version != FEATURE_VERSION {
            return Err(ModelError::FeatureVersion { found: version, expected: FEATURE_VERSION });
        }
        let buckets = read_u32(&mut input)? as usize;
        let classes = read_u32(&mut input)? as usize;
        if buckets != BUCKETS || classes != CLASSES.len() {
            return Err(ModelError::Damaged(format!(
                "{buckets} buckets and {classes} classes, expected {BUCKETS} and {}",
                CLASSES.len()
            )));
        }
        let name_length = read_u32(&mut input)? as usize;
        if name_length > 1024 {
            return Err(ModelError::Damaged("model name longer than 1024 bytes".to_string()));
        }
        let mut name = vec![0u8; name_length];
        input.read_exact(&mut name).map_err(damaged)?;
        let name = String::from_utf8(name).map_err(|_| ModelError::Damaged("model name is not UTF-8".to_string()))?;
        let mut share = [0u8; 8];
        input.read_exact(&mut share).map_err(damaged)?;
        let split = Split { train_share: f64::from_le_bytes(share) };
        let mut trained_on = [0u64; 3];
        for count in &mut trained_on {
            let mut bytes = [0u8; 8];
            input.read_exact(&mut bytes).map_err(damaged)?;
            *count = u64::from_le_bytes(bytes);
        }
        let mut bias = [0f32; 3];
        for value in &mut bias {
            *value = read_f32(&mut input)?;
        }
        let mut raw = vec![0u8; classes * buckets * 4];
        input.read_exact(&mut raw).map_err(damaged)?;
        let mut weights = vec![0f32; classes * buckets];
        for (index, bytes) in raw.chunks_exact(4).enumerate() {
            let (class, bucket) = (index / buckets, (index % buckets) as u32);
            weights[slot(class, bucket)] = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        Ok(Model { name, split, trained_on, bias, weights })
    }
}

/// Returns the index of the weight of `bucket` for `class` in [`Model`]'s
/// weights.
fn slot(class: usize, bucket: u32) -> usize {
    bucket as usize * CLASSES.len() + class
}

fn read_u32(input: &mut impl Read) -> Result<u32, ModelError> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes).map_err(|error| ModelError::Damaged(error.to_string()))?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_f32(input: &mut impl Read) -> Result<f32, ModelError> {
    Ok(f32::from_bits(read_u32(input)?))
}

fn softmax(logits: [f64; 3]) -> [f64; 3] {
    let max = logits.iter().copied().fold(f64::MIN, f64::max);
    let exponentials = logits.map(|logit| (logit - max).exp());
    let sum: f64 = exponentials.iter().sum();
    exponentials.map(|value| value / sum)
}

/// A small, seeded pseudo-random generator (xorshift64), for a shuffle that
/// is the same on every machine.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut value = self.0;
        value ^= value << 13;
        value ^= value >> 7;
        value ^= value << 17;
        self.0 = value;
        value
    }

    fn shuffle(&mut self, items: &mut [usize]) {
        for index in (1..items.len()).rev() {
            let other = (self.next() % (index as u64 + 1)) as usize;
            items.swap(index, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_examples() -> Vec<Example> {
        let mut examples = Vec::new();
        for index in 0..60u32 {
            examples.push(Example { features: vec![1, 2, 100 + index % 5], label: PHISH, weight: 1.0 });
            examples.push(Example { features: vec![3, 4, 200 + index % 5], label: HAM, weight: 1.0 });
            examples.push(Example { features: vec![5, 6, 300 + index % 5], label: SPAM, weight: 1.0 });
        }
        examples
    }

    #[test]
    fn learns_separable_classes() {
        let model = Model::train("toy", Split { train_share: 1.0 }, &toy_examples(), &TrainOptions::default());
        let phish = model.predict(&[1, 2]);
        assert!(phish[PHISH] > 0.9, "{phish:?}");
        let ham = model.predict(&[3, 4]);
        assert!(ham[HAM] > 0.9, "{ham:?}");
        assert_eq!(model.trained_on, [60, 60, 60]);
    }

    /// Keeping the best contributions while going through the buckets must
    /// give the first ones of a full sort, ties broken by bucket.
    #[test]
    fn top_contributions_match_full_sort() {
        let model = Model::train("toy", Split { train_share: 1.0 }, &toy_examples(), &TrainOptions::default());
        let features: Vec<u32> = [1, 2, 3, 4, 5, 6, 100, 101, 102, 103, 104, 200, 300, 7, 8].to_vec();
        for class in 0..CLASSES.len() {
            let mut all = model.top_contributions(&features, class, usize::MAX - 1);
            let expected_all = all.clone();
            all.sort_by(|left, right| right.1.total_cmp(&left.1).then(left.0.cmp(&right.0)));
            assert_eq!(all, expected_all, "class {class}: sorted");
            assert!(all.iter().all(|(_, contribution)| *contribution > 0.0));
            for count in 0..=all.len() + 1 {
                let top = model.top_contributions(&features, class, count);
                assert_eq!(top, all[..count.min(all.len())], "class {class}, count {count}");
            }
        }
    }

    #[test]
    fn training_is_deterministic() {
        let first = Model::train("toy", Split { train_share: 1.0 }, &toy_examples(), &TrainOptions::default());
        let second = Model::train("toy", Split { train_share: 1.0 }, &toy_examples(), &TrainOptions::default());
        let mut first_bytes = Vec::new();
        first.write(&mut first_bytes).expect("written");
        let mut second_bytes = Vec::new();
        second.write(&mut second_bytes).expect("written");
        assert_eq!(first_bytes, second_bytes);
    }

    #[test]
    fn file_round_trip_and_errors() {
        let model = Model::train("toy", Split { train_share: 0.7 }, &toy_examples(), &TrainOptions::default());
        let mut bytes = Vec::new();
        model.write(&mut bytes).expect("written");
        assert_eq!(Model::read(&bytes[..]).expect("read back"), model);
        assert!(matches!(Model::read(&b"NOTMODEL"[..]), Err(ModelError::Magic)));
        assert!(matches!(Model::read(&bytes[..bytes.len() / 2]), Err(ModelError::Damaged(_))));
    }

    /// The file keeps one row of weights per class, whatever the order in
    /// memory, so that model files stay readable across versions.
    #[test]
    fn file_stores_class_rows() {
        let model = Model::train("toy", Split { train_share: 1.0 }, &toy_examples(), &TrainOptions::default());
        let mut bytes = Vec::new();
        model.write(&mut bytes).expect("written");
        let rows_start = bytes.len() - CLASSES.len() * BUCKETS * 4;
        for class in 0..CLASSES.len() {
            for bucket in [1u32, 3, 5, 100, 200, 300] {
                let offset = rows_start + (class * BUCKETS + bucket as usize) * 4;
                let stored =
                    f32::from_le_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]]);
                let weight = model.weights[slot(class, bucket)];
                assert_ne!(weight, 0.0, "class {class}, bucket {bucket} was trained");
                assert_eq!(stored, weight, "class {class}, bucket {bucket}");
            }
        }
    }

    #[test]
    fn split_is_by_hash_prefix() {
        let split = Split { train_share: 0.5 };
        let mut low = [0u8; 32];
        low[0] = 0x10;
        let mut high = [0u8; 32];
        high[0] = 0xf0;
        assert!(split.is_training(&low));
        assert!(!split.is_training(&high));
    }
}
