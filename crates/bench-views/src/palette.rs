//! Each model's colour and marker, the same in every plot of every run and
//! in `report.html`: a model keeps its place in the harness's model list,
//! and servers given by command (`--server NAME=...`) follow in run order.
//!
//! The colours are Paul Tol's "muted" scheme (designed to stay apart for
//! colour-blind readers) plus black; the markers differ as well, so a plot
//! printed in grayscale still tells the models apart.

use serde::Serialize;

use bench::record::BenchResults;

/// Tol's muted scheme (without its pale grey, kept for "no data"), then black.
const COLOURS: [(u8, u8, u8); 10] = [
    (0x33, 0x22, 0x88),
    (0x88, 0xCC, 0xEE),
    (0x44, 0xAA, 0x99),
    (0x11, 0x77, 0x33),
    (0x99, 0x99, 0x33),
    (0xDD, 0xCC, 0x77),
    (0xCC, 0x66, 0x77),
    (0x88, 0x22, 0x55),
    (0xAA, 0x44, 0x99),
    (0x00, 0x00, 0x00),
];

/// Marker outlines, as polygons around the point in units of the marker's
/// radius (y down, as on screen). Seven shapes against ten colours, so no
/// two of the first seventy models look alike.
const MARKERS: [&[(f64, f64)]; 7] = [
    // circle (a 12-gon: at marker size nobody sees the corners)
    &[
        (1.0, 0.0),
        (0.866, 0.5),
        (0.5, 0.866),
        (0.0, 1.0),
        (-0.5, 0.866),
        (-0.866, 0.5),
        (-1.0, 0.0),
        (-0.866, -0.5),
        (-0.5, -0.866),
        (0.0, -1.0),
        (0.5, -0.866),
        (0.866, -0.5),
    ],
    // square
    &[(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)],
    // triangle, point up
    &[(0.0, -1.15), (1.0, 0.6), (-1.0, 0.6)],
    // diamond
    &[(0.0, -1.2), (1.0, 0.0), (0.0, 1.2), (-1.0, 0.0)],
    // triangle, point down
    &[(0.0, 1.15), (1.0, -0.6), (-1.0, -0.6)],
    // five-pointed star
    &[
        (0.0, -1.25),
        (0.29, -0.4),
        (1.19, -0.39),
        (0.47, 0.15),
        (0.73, 1.01),
        (0.0, 0.5),
        (-0.73, 1.01),
        (-0.47, 0.15),
        (-1.19, -0.39),
        (-0.29, -0.4),
    ],
    // plus
    &[
        (-0.35, -1.1),
        (0.35, -1.1),
        (0.35, -0.35),
        (1.1, -0.35),
        (1.1, 0.35),
        (0.35, 0.35),
        (0.35, 1.1),
        (-0.35, 1.1),
        (-0.35, 0.35),
        (-1.1, 0.35),
        (-1.1, -0.35),
        (-0.35, -0.35),
    ],
];

/// How one model is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct ModelStyle {
    pub(crate) colour: (u8, u8, u8),
    /// The marker's outline, see [`MARKERS`].
    pub(crate) marker: &'static [(f64, f64)],
}

impl ModelStyle {
    /// `#rrggbb`, for HTML.
    pub(crate) fn hex(&self) -> String {
        let (r, g, b) = self.colour;
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

/// Who is drawn how: every model the harness knows, in its order.
#[derive(Debug, Clone)]
pub struct Palette {
    known: Vec<String>,
}

impl Palette {
    /// A palette for the harness's models, named in their lasting order
    /// (the article's tour): a model's look is its place here.
    pub fn new(known: &[&str]) -> Palette {
        Palette {
            known: known.iter().map(|name| name.to_string()).collect(),
        }
    }

    /// The style of each of the run's models, in `results.models` order.
    pub(crate) fn styles(&self, results: &BenchResults) -> Vec<ModelStyle> {
        let names: Vec<&str> = results.models.iter().map(|m| m.name.as_str()).collect();
        self.styles_of(&names)
    }

    /// A model of ours takes the colour and marker of its place in the model
    /// list, in every run. A server given by command takes the next colour no
    /// model of this run has, and a marker of its own place after the list.
    fn styles_of(&self, names: &[&str]) -> Vec<ModelStyle> {
        let place = |name: &str| self.known.iter().position(|known| known == name);
        let taken: Vec<usize> = names
            .iter()
            .filter_map(|name| place(name))
            .map(|p| p % COLOURS.len())
            .collect();
        let mut free = (0..COLOURS.len())
            .filter(|c| !taken.contains(c))
            .chain((0..COLOURS.len()).cycle());
        let mut commanded = 0;
        names
            .iter()
            .map(|name| match place(name) {
                Some(p) => style_at(p, p),
                None => {
                    commanded += 1;
                    let colour = free.next().unwrap_or(0);
                    style_at(colour, self.known.len() + commanded - 1)
                }
            })
            .collect()
    }
}

fn style_at(colour: usize, marker: usize) -> ModelStyle {
    ModelStyle {
        colour: COLOURS[colour % COLOURS.len()],
        marker: MARKERS[marker % MARKERS.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distinct(styles: &[ModelStyle]) {
        for (i, a) in styles.iter().enumerate() {
            for b in &styles[..i] {
                assert!(a.colour != b.colour || a.marker != b.marker, "place {i}");
            }
        }
    }

    /// The harness's models when these tests were written.
    const TEN: [&str; 10] = [
        "blocking",
        "thread-per-conn",
        "thread-pool",
        "rayon-pool",
        "epoll-callback",
        "mini-executor",
        "tokio",
        "async-std",
        "smol",
        "io-uring",
    ];

    fn styles_of(names: &[&str]) -> Vec<ModelStyle> {
        Palette::new(&TEN).styles_of(names)
    }

    #[test]
    fn a_model_looks_the_same_in_every_run_and_no_two_alike() {
        let every = styles_of(&TEN);
        distinct(&every);
        // Any subset, in any order, keeps each model's look.
        let some = styles_of(&["tokio", "blocking"]);
        assert_eq!(some, [every[6], every[0]]);
        assert_eq!(every[4].hex(), "#999933");
    }

    #[test]
    fn servers_given_by_command_take_colours_the_run_leaves_free() {
        // The article's tour: five of ours and five Python servers.
        let names = [
            "blocking",
            "thread-per-conn",
            "epoll-callback",
            "mini-executor",
            "tokio",
            "py-blocking",
            "py-threads",
            "py-selectors",
            "py-generator-loop",
            "py-asyncio",
        ];
        let styles = styles_of(&names);
        let ours: Vec<_> = styles[..5].iter().map(|s| s.colour).collect();
        for theirs in &styles[5..] {
            assert!(!ours.contains(&theirs.colour), "{theirs:?}");
        }
        let colours: std::collections::BTreeSet<_> = styles.iter().map(|s| s.colour).collect();
        assert_eq!(colours.len(), 10, "ten servers, ten colours");
        // Past ten, colours repeat but never with the same marker.
        let many: Vec<String> = (0..40).map(|i| format!("server-{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        distinct(&styles_of(&many[..35]));
    }
}
