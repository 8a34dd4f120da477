// hdnnp-toolkit: n2p2-compatible high-dimensional neural network potential,
// evaluated atom by atom.  This part knows nothing about LAMMPS: it reads the
// n2p2 files (input.nn, scaling.data, weights.NNN.data), computes the
// symmetry functions of one atom from its neighbour vectors, runs the atomic
// network and returns the energy and dE/d(neighbour vector).
//
// Units: everything inside Model is in the potential's *internal* units, i.e.
// the units of input.data during training, additionally multiplied by
// conv_length / conv_energy when input.nn normalises (n2p2 convention).
// The caller converts (see pair_hdnnp_plugin.cpp).
//
// Formulas and the sorted order of the symmetry functions follow n2p2
// (CutoffFunction, CoreFunction, SymFncExpRad, SymFncExpAngn, SymFncExpAngw,
// SymFncExpRadWeighted, SymFncExpAngnWeighted, SymFnc::scale, NeuralNetwork).

#ifndef HDNNP_TOOLKIT_MODEL_H
#define HDNNP_TOOLKIT_MODEL_H

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hdnnp_toolkit {

class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Returns the content of a file; throws ModelError if it cannot be read.
using FileReader = std::function<std::string(const std::string &path)>;

// Reads a file from disk (used on MPI rank 0).
std::string read_file_from_disk(const std::string &path);

// Atomic number of an element symbol, 0 if unknown.
int atomic_number(const std::string &symbol);

// n2p2 CutoffFunction::CutoffType numbering (cutoff_type in input.nn).
enum CutoffKind {
  CT_HARD = 0,
  CT_COS = 1,
  CT_TANHU = 2,
  CT_TANH = 3,
  CT_EXP = 4,
  CT_POLY1 = 5,
  CT_POLY2 = 6,
  CT_POLY3 = 7,
  CT_POLY4 = 8
};

struct CutoffFunction {
  int type = CT_HARD;
  double rc = 0.0, rcinv = 0.0, alpha = 0.0, rci = 0.0, iw = 0.0;

  void set(int cutoff_type, double cutoff_radius, double cutoff_alpha);
  // Value and radial derivative; only called for r < rc.
  inline void fdf(double r, double &fc, double &dfc) const;
};

// n2p2 SymFnc::ScalingType.
enum ScalingKind { ST_NONE = 0, ST_SCALE, ST_CENTER, ST_SCALECENTER, ST_SCALESIGMA };

struct SymmetryFunction {
  int type = 0;           // 2, 3, 9, 12 or 13
  int e1 = -1, e2 = -1;   // neighbour element indices (e1 <= e2), -1 if unused
  double eta = 0.0, rs = 0.0, rc = 0.0, lambda = 0.0, zeta = 0.0;
  int zetaInt = 0;
  bool useIntegerPow = false;
  int line = 0;  // line of input.nn (1-based)
  // Scaling (scaling.data); G_scaled = scale(G).
  int scaling = ST_NONE;
  double Gmin = 0.0, Gmax = 0.0, Gmean = 0.0, Gsigma = 0.0;
  double Smin = 0.0, Smax = 0.0, scalingFactor = 1.0;

  double scale(double G) const
  {
    switch (scaling) {
      case ST_SCALE:
        return Smin + scalingFactor * (G - Gmin);
      case ST_CENTER:
        return G - Gmean;
      case ST_SCALECENTER:
      case ST_SCALESIGMA:
        return Smin + scalingFactor * (G - Gmean);
      default:
        return G;
    }
  }
  bool less_than(const SymmetryFunction &o) const;  // n2p2 operator<
  std::string describe(const std::vector<std::string> &symbols) const;
};

// n2p2 NeuralNetwork::ActivationFunction letters.
enum Activation {
  AF_IDENTITY = 0,  // l
  AF_TANH,          // t
  AF_LOGISTIC,      // s
  AF_SOFTPLUS,      // p
  AF_RELU,          // r
  AF_GAUSSIAN,      // g
  AF_COS,           // c
  AF_REVLOGISTIC,   // S
  AF_EXP,           // e
  AF_HARMONIC       // h
};

struct DenseLayer {
  int nin = 0, nout = 0, activation = AF_IDENTITY;
  std::vector<double> W;  // nout x nin, row-major: W[k * nin + j] connects input j -> neuron k
  std::vector<double> b;  // nout
};

// Radial symmetry functions of one element that share neighbour element and
// cutoff (type 2), or cutoff (type 12): one cutoff evaluation per neighbour.
struct RadialGroup {
  int type = 2;
  int e1 = -1;  // -1 for type 12 (all neighbours, weighted by Z)
  int rcIndex = 0;
  std::vector<int> sf;  // member symmetry-function indices
  std::vector<double> eta, rs;
};

// Angular symmetry functions sharing type, neighbour elements and cutoff:
// one cutoff product, cos(theta) and one exponential per distinct (eta, rs)
// per neighbour pair.
struct AngularGroup {
  int type = 9;
  int e1 = -1, e2 = -1;  // -1 for type 13
  int rcIndex = 0;
  double rc = 0.0;
  std::vector<int> sf;
  std::vector<int> expIndex;  // member -> index into expEta/expRs
  std::vector<double> expEta, expRs;
  std::vector<double> lambda, zeta, zetaLambda, twoEta, rs, norm;
  std::vector<int> zetaInt;
  std::vector<char> useIntegerPow;
  // Members grouped by lambda: they share 1 + lambda cos(theta) and its
  // repeated squares (integer powers as in n2p2's pow_int, bit for bit).
  std::vector<double> lamValue;
  std::vector<int> lamStart;    // CSR offsets into lamMembers, size = lamValue.size() + 1
  std::vector<int> lamMembers;
  std::vector<int> lamSquares;  // number of squares of (1 + lambda cos) needed
};

struct ElementModel {
  std::string symbol;
  int Z = 0;
  double energyOffset = 0.0;  // atom_energy (physical units)
  std::vector<SymmetryFunction> sf;  // n2p2's sorted order
  std::vector<DenseLayer> layers;
  std::vector<double> rcList;  // distinct cutoff radii (internal units), ascending
  std::vector<CutoffFunction> cutoffs;  // one per rcList entry
  double rcMax = 0.0;
  int maxLayerWidth = 0;
  std::vector<RadialGroup> radial;
  std::vector<AngularGroup> angular;
};

// One neighbour of the central atom: d = r_j - r_i and |d| in internal units.
struct NeighborVec {
  int element;
  double d[3];
  double r;
};

// Per-atom scratch space, reused between atoms (no per-atom allocation).
struct Workspace {
  std::vector<double> G, Gs, dEdG, w;
  std::vector<double> grad;   // 3 * nneigh: dE_i / d(d_j), internal units
  std::vector<double> invr, invr2;  // 1 / r_j and 1 / r_j^2 per neighbour
  std::vector<double> fc, dfc;  // nrc * nneigh
  std::vector<std::vector<int>> lists;  // (nrc * (nelem + 1)) neighbour lists
  std::vector<std::vector<double>> radialDer;  // per radial group
  std::vector<std::vector<int>> radialNb;
  std::vector<std::vector<double>> angularP;  // per angular group: 3 per pair and member
  std::vector<std::vector<int>> angularPairs;
  std::vector<double> act, dact, delta, delta2;
};

class Model {
 public:
  // Reads <dir>input.nn, <dir>scaling.data and <dir>weights.NNN.data through
  // `reader`.  Throws ModelError with a message naming the file (and line).
  void load(const std::string &dir, const FileReader &reader);

  // Human-readable setup summary (for the LAMMPS log).
  std::string summary() const;

  int element_index(const std::string &symbol) const;  // -1 if not present
  int num_elements() const { return (int) elements.size(); }

  // Energy of one atom of element `elem` (internal units) and, in ws.grad,
  // dE/d(d_j) for each neighbour j (internal units).  ws.G holds the raw
  // symmetry-function values afterwards (for extrapolation checks).
  double evaluate(int elem, const NeighborVec *nb, int nn, Workspace &ws, bool derivatives) const;

  // Network only (input: scaled symmetry functions); returns the output and
  // dOutput/dInput in dEdG when derivatives is true.
  double network(const ElementModel &em, const double *input, double *dEdG, Workspace &ws,
                 bool derivatives) const;

  std::vector<ElementModel> elements;  // sorted by atomic number (n2p2 ElementMap)
  bool normalize = false;
  double meanEnergy = 0.0, convEnergy = 1.0, convLength = 1.0;
  int cutoffType = CT_HARD;
  double cutoffAlpha = 0.0;
  int scalingType = ST_NONE;
  bool normalizeNeurons = false;
  double maxCutoff = 0.0;  // internal units
  std::vector<std::string> warnings;  // setup remarks for the log
  std::string directory;

 private:
  void setup_groups(ElementModel &em);
};

// ---------------------------------------------------------------------------
// Inline cutoff function (n2p2 CutoffFunction::fdf* and CoreFunction::fdf*).

inline void CutoffFunction::fdf(double r, double &fc, double &dfc) const
{
  static const double PI = 4.0 * std::atan(1.0);
  static const double E = std::exp(1.0);
  static const double TANH_PRE = std::pow((E + 1 / E) / (E - 1 / E), 3);
  switch (type) {
    case CT_HARD:
      fc = 1.0;
      dfc = 0.0;
      return;
    case CT_COS: {
      if (r < rci) {
        fc = 1.0;
        dfc = 0.0;
        return;
      }
      double const x = (r - rci) * iw;
      double const temp = std::cos(PI * x);
      fc = 0.5 * (temp + 1.0);
      dfc = -0.5 * iw * PI * std::sqrt(1.0 - temp * temp);
      return;
    }
    case CT_TANHU: {
      double const temp = std::tanh(1.0 - r * rcinv);
      double const temp2 = temp * temp;
      fc = temp * temp2;
      dfc = 3.0 * temp2 * (temp2 - 1.0) * rcinv;
      return;
    }
    case CT_TANH: {
      double const temp = std::tanh(1.0 - r * rcinv);
      double const temp2 = temp * temp;
      fc = TANH_PRE * temp * temp2;
      dfc = 3.0 * TANH_PRE * temp2 * (temp2 - 1.0) * rcinv;
      return;
    }
    default:
      break;
  }
  // Polynomial and exponential "core" functions of x in [0, 1).
  if (r < rci) {
    fc = 1.0;
    dfc = 0.0;
    return;
  }
  double const x = (r - rci) * iw;
  switch (type) {
    case CT_POLY1:
      fc = (2.0 * x - 3.0) * x * x + 1.0;
      dfc = x * (6.0 * x - 6.0);
      break;
    case CT_POLY2: {
      double const x2 = x * x;
      fc = ((15.0 - 6.0 * x) * x - 10.0) * x * x2 + 1.0;
      dfc = x2 * ((60.0 - 30.0 * x) * x - 30.0);
      break;
    }
    case CT_POLY3: {
      double const x2 = x * x;
      fc = (x * (x * (20.0 * x - 70.0) + 84.0) - 35.0) * x2 * x2 + 1.0;
      dfc = x2 * x * (x * (x * (140.0 * x - 420.0) + 420.0) - 140.0);
      break;
    }
    case CT_POLY4: {
      double x4 = x * x;
      x4 *= x4;
      fc = (x * (x * ((315.0 - 70.0 * x) * x - 540.0) + 420.0) - 126.0) * x * x4 + 1.0;
      dfc = x4 * (x * (x * ((2520.0 - 630.0 * x) * x - 3780.0) + 2520.0) - 630.0);
      break;
    }
    default: {  // CT_EXP
      double const temp = 1.0 / (x * x - 1.0);
      double const temp2 = std::exp(temp);
      fc = E * temp2;
      dfc = -2.0 * E * x * temp * temp * temp2;
      break;
    }
  }
  dfc *= iw;
}

}  // namespace hdnnp_toolkit

#endif
