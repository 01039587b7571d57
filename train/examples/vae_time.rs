use netlens_train::vae::*;
use netlens_train::RunDir;
struct P;
impl VaeProgress for P {
    fn epoch(&mut self, m: &VaeEpochMetrics) {
        eprintln!("{} rec {:.2} kl {:.2} | ho rec {:.2} kl {:.2} mse {:.4} | {:.1}s", m.epoch, m.train_reconstruction, m.train_kl, m.heldout_reconstruction, m.heldout_kl, m.heldout_mse, m.seconds);
    }
}
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let images = netlens_fetch::load_npy_images(std::path::Path::new("../shared/data/lfw-small/X_train.npy")).unwrap();
    let mut c = VaeTrainConfig::new("lfw");
    c.epochs = args[2].parse().unwrap();
    c.batch_size = args[3].parse().unwrap();
    c.learning_rate = args[4].parse().unwrap();
    let run = RunDir::new(&args[1]);
    train_vae(&run, &c, &images, false, &mut P).unwrap();
}
