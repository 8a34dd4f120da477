// hdnnp-toolkit: reading n2p2 potentials and evaluating atomic energies.
// See hdnnp_model.h for units and conventions.

#include "hdnnp_model.h"

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

namespace hdnnp_toolkit {

namespace {

const char *const kSymbols[] = {
    "",   "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si",
    "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
    "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru",
    "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr",
    "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",
    "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac",
    "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
    "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};
const int kNumSymbols = (int) (sizeof(kSymbols) / sizeof(kSymbols[0]));

// n2p2 NeuralNetwork: EXP_LIMIT for logistic and softplus.
const double kExpLimit = 35.0;

std::vector<std::string> split_ws(const std::string &s)
{
  std::vector<std::string> out;
  std::istringstream is(s);
  std::string tok;
  while (is >> tok) out.push_back(tok);
  return out;
}

std::string fmt_double(double v)
{
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

std::string where(const std::string &file, int line)
{
  return file + ", line " + std::to_string(line);
}

double to_double(const std::string &tok, const std::string &file, int line, const std::string &what)
{
  const char *s = tok.c_str();
  char *end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    throw ModelError(where(file, line) + ": cannot read " + what + " from '" + tok + "'");
  return v;
}

long to_long(const std::string &tok, const std::string &file, int line, const std::string &what)
{
  const char *s = tok.c_str();
  char *end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || errno == ERANGE)
    throw ModelError(where(file, line) + ": cannot read integer " + what + " from '" + tok + "'");
  return v;
}

// First value after a keyword, or an error naming the line.
std::string first_value(const std::string &value, const std::string &file, int line, const std::string &key)
{
  std::vector<std::string> t = split_ws(value);
  if (t.empty()) throw ModelError(where(file, line) + ": keyword '" + key + "' needs a value");
  return t[0];
}

// n2p2 utility.h pow_int: binary exponentiation for n >= 0.
inline double pow_int(double x, int n)
{
  if (n < 0) return 1.0 / pow_int(x, -n);
  double value = 1.0;
  do {
    if (n & 1) value *= x;
    n >>= 1;
    x *= x;
  } while (n);
  return value;
}

struct Entry {
  std::string value;
  int line;
};

// input.nn as n2p2's Settings sees it: keyword + rest of line, comments removed.
struct Settings {
  std::string file;
  std::multimap<std::string, Entry> entries;

  void parse(const std::string &text, const std::string &fname)
  {
    file = fname;
    std::istringstream is(text);
    std::string raw;
    int lineno = 0;
    while (std::getline(is, raw)) {
      ++lineno;
      std::string line = raw.substr(0, raw.find('#'));
      std::vector<std::string> tok = split_ws(line);
      if (tok.empty()) continue;
      std::string rest;
      size_t pos = line.find(tok[0]) + tok[0].size();
      rest = line.substr(pos);
      entries.insert({tok[0], Entry{rest, lineno}});
    }
  }
  bool has(const std::string &k) const { return entries.count(k) > 0; }
  // Keyword that may appear once; returns its entry.
  const Entry &single(const std::string &k) const
  {
    auto range = entries.equal_range(k);
    if (range.first == range.second) throw ModelError(file + ": required keyword '" + k + "' is missing");
    auto second = range.first;
    ++second;
    if (second != range.second)
      throw ModelError(where(file, second->second.line) + ": keyword '" + k +
                       "' appears more than once (first on line " +
                       std::to_string(range.first->second.line) + ")");
    return range.first->second;
  }
  std::vector<const Entry *> all(const std::string &k) const
  {
    std::vector<const Entry *> out;
    auto range = entries.equal_range(k);
    for (auto it = range.first; it != range.second; ++it) out.push_back(&it->second);
    std::sort(out.begin(), out.end(), [](const Entry *a, const Entry *b) { return a->line < b->line; });
    return out;
  }
};

int parse_activation(const std::string &a, const std::string &file, int line)
{
  if (a == "l") return AF_IDENTITY;
  if (a == "t") return AF_TANH;
  if (a == "s") return AF_LOGISTIC;
  if (a == "p") return AF_SOFTPLUS;
  if (a == "r") return AF_RELU;
  if (a == "g") return AF_GAUSSIAN;
  if (a == "c") return AF_COS;
  if (a == "S") return AF_REVLOGISTIC;
  if (a == "e") return AF_EXP;
  if (a == "h") return AF_HARMONIC;
  throw ModelError(where(file, line) + ": unknown activation function '" + a +
                   "' (n2p2 letters: l t s p r g c S e h)");
}

const char *activation_letter(int a)
{
  static const char *letters[] = {"l", "t", "s", "p", "r", "g", "c", "S", "e", "h"};
  return letters[a];
}

const char *scaling_name(int s)
{
  switch (s) {
    case ST_SCALE:
      return "scale (Gs = Smin + (Smax - Smin) (G - Gmin) / (Gmax - Gmin))";
    case ST_CENTER:
      return "center (Gs = G - Gmean)";
    case ST_SCALECENTER:
      return "scale+center (Gs = Smin + (Smax - Smin) (G - Gmean) / (Gmax - Gmin))";
    case ST_SCALESIGMA:
      return "scale_sigma (Gs = Smin + (Smax - Smin) (G - Gmean) / Gsigma)";
    default:
      return "none (Gs = G)";
  }
}

}  // namespace

// ---------------------------------------------------------------------------

std::string read_file_from_disk(const std::string &path)
{
  std::ifstream in(path, std::ios::in | std::ios::binary);
  if (!in) {
    int err = errno;
    throw ModelError("cannot open file '" + path + "': " + std::strerror(err ? err : ENOENT));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ModelError("error while reading file '" + path + "'");
  return ss.str();
}

int atomic_number(const std::string &symbol)
{
  for (int z = 1; z < kNumSymbols; ++z)
    if (symbol == kSymbols[z]) return z;
  return 0;
}

void CutoffFunction::set(int cutoff_type, double cutoff_radius, double cutoff_alpha)
{
  // n2p2: setCutoffRadius() then setCutoffParameter().
  type = cutoff_type;
  rc = cutoff_radius;
  rcinv = 1.0 / cutoff_radius;
  alpha = cutoff_alpha;
  rci = rc * alpha;
  iw = 1.0 / (rc - rci);
}

bool SymmetryFunction::less_than(const SymmetryFunction &o) const
{
  // n2p2 SymFnc*::operator< (central element, cutoff type and alpha are
  // equal within one element and therefore not compared here).
  if (type != o.type) return type < o.type;
  if (rc != o.rc) return rc < o.rc;
  if (eta != o.eta) return eta < o.eta;
  if (rs != o.rs) return rs < o.rs;
  if (type == 3 || type == 9 || type == 13) {
    if (zeta != o.zeta) return zeta < o.zeta;
    if (lambda != o.lambda) return lambda < o.lambda;
  }
  if (e1 != o.e1) return e1 < o.e1;
  if (e2 != o.e2) return e2 < o.e2;
  return false;
}

std::string SymmetryFunction::describe(const std::vector<std::string> &symbols) const
{
  char buf[256];
  const char *s1 = e1 >= 0 ? symbols[e1].c_str() : "*";
  const char *s2 = e2 >= 0 ? symbols[e2].c_str() : "*";
  if (type == 2 || type == 12)
    std::snprintf(buf, sizeof(buf), "type %2d %2s    eta %.4g rs %.4g rc %.4g (input.nn line %d)", type,
                  s1, eta, rs, rc, line);
  else
    std::snprintf(buf, sizeof(buf),
                  "type %2d %2s %2s eta %.4g rs %.4g lambda %g zeta %g rc %.4g (input.nn line %d)",
                  type, s1, s2, eta, rs, lambda, zeta, rc, line);
  return buf;
}

int Model::element_index(const std::string &symbol) const
{
  for (size_t i = 0; i < elements.size(); ++i)
    if (elements[i].symbol == symbol) return (int) i;
  return -1;
}

// ---------------------------------------------------------------------------
// Model::load in n2p2's own setup steps (Mode::setupElementMap, setupNormalization,
// setupElements, setupCutoff, setupSymmetryFunctions, setupSymmetryFunctionScaling,
// setupNeuralNetwork, setupNeuralNetworkWeights, setupSymmetryFunctionGroups).

namespace {

class ModelSetup {
 public:
  ModelSetup(Model &model, const Settings &settings, const std::string &fnn) : m(model), st(settings), fnn(fnn) {}

  void checkPotentialType();
  void setupElementMap();
  void setupNormalization();
  void setupElements();
  void setupCutoff();
  void setupSymmetryFunctions();
  void setupSymmetryFunctionScaling(const std::string &text, const std::string &fscaling);
  void setupNeuralNetwork();
  void setupNeuralNetworkWeights(const FileReader &reader);

 private:
  int elementOf(const std::string &s, int line) const;
  SymmetryFunction parseSymmetryFunction(const Entry &e, int &element) const;
  void setScaling(SymmetryFunction &s, const std::vector<std::string> &t, const std::string &fscaling, int lineno,
                  size_t ie, size_t is) const;
  void readWeights(ElementModel &em, const std::string &text, const std::string &fw, const std::string &shape,
                   size_t nweights) const;

  Model &m;
  const Settings &st;
  const std::string fnn;
  const Entry *eel = nullptr;                 // the 'elements' line
  double Smin = 0.0, Smax = 0.0;
  std::vector<std::vector<int>> nodes;        // hidden-layer widths per element
  std::vector<int> hiddenAct;                 // activation per hidden layer
};

void ModelSetup::checkPotentialType()
{
  if (st.has("nnp_type")) {
    const Entry &e = st.single("nnp_type");
    std::vector<std::string> t = split_ws(e.value);
    if (t.empty() || t[0] != "1")
      throw ModelError(where(fnn, e.line) + ": nnp_type '" + e.value +
                       "' is not supported (only short-range potentials, nnp_type 1)");
  }
  if (st.has("committee_mode"))
    m.warnings.push_back("committee_mode is ignored: only the main network is evaluated");
}

// Elements sorted by atomic number (n2p2 ElementMap).
void ModelSetup::setupElementMap()
{
  eel = &st.single("elements");
  std::vector<std::string> syms = split_ws(eel->value);
  if (syms.empty()) throw ModelError(where(fnn, eel->line) + ": keyword 'elements' lists no element");
  for (const auto &s : syms)
    if (atomic_number(s) == 0)
      throw ModelError(where(fnn, eel->line) + ": unknown element symbol '" + s + "'");
  std::sort(syms.begin(), syms.end(),
            [](const std::string &a, const std::string &b) { return atomic_number(a) < atomic_number(b); });
  for (size_t i = 1; i < syms.size(); ++i)
    if (syms[i] == syms[i - 1])
      throw ModelError(where(fnn, eel->line) + ": element '" + syms[i] + "' is listed twice");
  const Entry &en = st.single("number_of_elements");
  std::vector<std::string> t = split_ws(en.value);
  long n = t.empty() ? -1 : to_long(t[0], fnn, en.line, "number_of_elements");
  if (n != (long) syms.size())
    throw ModelError(where(fnn, en.line) + ": number_of_elements is " + (t.empty() ? "" : t[0]) + " but " +
                     std::to_string(syms.size()) + " elements are listed on line " + std::to_string(eel->line));
  m.elements.resize(syms.size());
  for (size_t i = 0; i < syms.size(); ++i) {
    m.elements[i].symbol = syms[i];
    m.elements[i].Z = atomic_number(syms[i]);
  }
}

int ModelSetup::elementOf(const std::string &s, int line) const
{
  int idx = m.element_index(s);
  if (idx < 0)
    throw ModelError(where(fnn, line) + ": element '" + s + "' is not in the 'elements' list (" + eel->value + ")");
  return idx;
}

void ModelSetup::setupNormalization()
{
  int nnorm = (int) st.has("mean_energy") + (int) st.has("conv_energy") + (int) st.has("conv_length");
  if (nnorm == 3) {
    m.normalize = true;
    const Entry &me = st.single("mean_energy");
    const Entry &ce = st.single("conv_energy");
    const Entry &cl = st.single("conv_length");
    m.meanEnergy = to_double(first_value(me.value, fnn, me.line, "mean_energy"), fnn, me.line, "mean_energy");
    m.convEnergy = to_double(first_value(ce.value, fnn, ce.line, "conv_energy"), fnn, ce.line, "conv_energy");
    m.convLength = to_double(first_value(cl.value, fnn, cl.line, "conv_length"), fnn, cl.line, "conv_length");
    if (m.convEnergy == 0.0 || m.convLength == 0.0)
      throw ModelError(fnn + ": conv_energy and conv_length must be non-zero");
  } else if (nnorm == 0) {
    m.normalize = false;
    m.meanEnergy = 0.0;
    m.convEnergy = 1.0;
    m.convLength = 1.0;
  } else {
    throw ModelError(fnn + ": use all or none of the normalisation keywords mean_energy, conv_energy, conv_length");
  }
}

// Atomic energy offsets (n2p2 Mode::setupElements).
void ModelSetup::setupElements()
{
  for (const Entry *e : st.all("atom_energy")) {
    std::vector<std::string> t = split_ws(e->value);
    if (t.size() < 2) throw ModelError(where(fnn, e->line) + ": expected 'atom_energy <element> <energy>'");
    int idx = elementOf(t[0], e->line);
    m.elements[idx].energyOffset = to_double(t[1], fnn, e->line, "atomic energy offset");
  }
}

void ModelSetup::setupCutoff()
{
  const Entry &e = st.single("cutoff_type");
  std::vector<std::string> t = split_ws(e.value);
  if (t.empty()) throw ModelError(where(fnn, e.line) + ": expected 'cutoff_type <type> [alpha]'");
  long ct = to_long(t[0], fnn, e.line, "cutoff type");
  if (ct < CT_HARD || ct > CT_POLY4)
    throw ModelError(where(fnn, e.line) + ": unknown cutoff_type " + t[0] + " (n2p2 types 0 to 8)");
  m.cutoffType = (int) ct;
  m.cutoffAlpha = 0.0;
  if (t.size() > 1) m.cutoffAlpha = to_double(t[1], fnn, e.line, "cutoff alpha");
  if (m.cutoffAlpha < 0.0 || m.cutoffAlpha >= 1.0)
    throw ModelError(where(fnn, e.line) + ": cutoff alpha must satisfy 0 <= alpha < 1 (got " + t[1] + ")");
  if ((m.cutoffType == CT_TANHU || m.cutoffType == CT_TANH) && m.cutoffAlpha > 0.0)
    m.warnings.push_back("cutoff alpha is not used by cutoff_type " + t[0] + " (as in n2p2)");
}

// One symfunction_short line; `element` receives the central element's index.
SymmetryFunction ModelSetup::parseSymmetryFunction(const Entry &e, int &element) const
{
  std::vector<std::string> t = split_ws(e.value);
  if (t.size() < 2) throw ModelError(where(fnn, e.line) + ": incomplete symfunction_short line");
  element = elementOf(t[0], e.line);
  long type = to_long(t[1], fnn, e.line, "symmetry function type");
  SymmetryFunction s;
  s.type = (int) type;
  s.line = e.line;
  auto need = [&](size_t n, const char *format) {
    if (t.size() != n)
      throw ModelError(where(fnn, e.line) + ": symmetry function type " + t[1] + " needs '" + format + "' (" +
                       std::to_string(n) + " values after symfunction_short), found " + std::to_string(t.size()));
  };
  auto num = [&](size_t i, const char *what) { return to_double(t[i], fnn, e.line, what); };
  if (type == 2) {
    need(6, "<ec> 2 <e1> <eta> <rs> <rc>");
    s.e1 = elementOf(t[2], e.line);
    s.eta = num(3, "eta");
    s.rs = num(4, "rs");
    s.rc = num(5, "rc");
  } else if (type == 3 || type == 9) {
    if (t.size() != 8 && t.size() != 9) need(8, "<ec> 3|9 <e1> <e2> <eta> <lambda> <zeta> <rc> [<rs>]");
    s.e1 = elementOf(t[2], e.line);
    s.e2 = elementOf(t[3], e.line);
    if (s.e1 > s.e2) std::swap(s.e1, s.e2);
    s.eta = num(4, "eta");
    s.lambda = num(5, "lambda");
    s.zeta = num(6, "zeta");
    s.rc = num(7, "rc");
    if (t.size() > 8) s.rs = num(8, "rs");
  } else if (type == 12) {
    need(5, "<ec> 12 <eta> <rs> <rc>");
    s.eta = num(2, "eta");
    s.rs = num(3, "rs");
    s.rc = num(4, "rc");
  } else if (type == 13) {
    need(7, "<ec> 13 <eta> <rs> <lambda> <zeta> <rc>");
    s.eta = num(2, "eta");
    s.rs = num(3, "rs");
    s.lambda = num(4, "lambda");
    s.zeta = num(5, "zeta");
    s.rc = num(6, "rc");
  } else {
    throw ModelError(where(fnn, e.line) + ": symmetry function type " + t[1] +
                     " is not supported by the hdnnp-toolkit plugin (supported: 2, 3, 9, 12, 13)");
  }
  if (!(s.rc > 0.0)) throw ModelError(where(fnn, e.line) + ": cutoff radius must be positive");
  if (type == 3 || type == 9 || type == 13) {
    s.zetaInt = (int) std::lround(s.zeta);
    s.useIntegerPow = std::fabs(s.zeta - s.zetaInt) <= std::numeric_limits<double>::min();
  }
  return s;
}

void ModelSetup::setupSymmetryFunctions()
{
  std::vector<const Entry *> sfe = st.all("symfunction_short");
  if (sfe.empty()) throw ModelError(fnn + ": no 'symfunction_short' lines");
  for (const Entry *e : sfe) {
    int ec = 0;
    SymmetryFunction s = parseSymmetryFunction(*e, ec);
    // n2p2 Mode::setupSymmetryFunctions: change length unit, then sort.
    if (m.normalize) {
      s.eta /= m.convLength * m.convLength;
      s.rs *= m.convLength;
      s.rc *= m.convLength;
    }
    m.elements[ec].sf.push_back(s);
  }
  m.maxCutoff = 0.0;
  for (auto &em : m.elements) {
    if (em.sf.empty())
      throw ModelError(fnn + ": element " + em.symbol + " has no symmetry functions (symfunction_short)");
    std::stable_sort(em.sf.begin(), em.sf.end(),
                     [](const SymmetryFunction &a, const SymmetryFunction &b) { return a.less_than(b); });
  }
}

// Statistics of one scaling.data row (t: element-index sf-index min max mean [sigma]) into s.
void ModelSetup::setScaling(SymmetryFunction &s, const std::vector<std::string> &t, const std::string &fscaling,
                            int lineno, size_t ie, size_t is) const
{
  s.Gmin = to_double(t[2], fscaling, lineno, "minimum");
  s.Gmax = to_double(t[3], fscaling, lineno, "maximum");
  s.Gmean = to_double(t[4], fscaling, lineno, "mean");
  s.Gsigma = t.size() > 5 ? to_double(t[5], fscaling, lineno, "sigma") : 0.0;
  s.scaling = m.scalingType;
  s.Smin = Smin;
  s.Smax = Smax;
  const std::string which = " for element " + m.elements[ie].symbol + " symmetry function " + std::to_string(is + 1);
  if (m.scalingType == ST_SCALE || m.scalingType == ST_SCALECENTER) {
    if (s.Gmax == s.Gmin) throw ModelError(where(fscaling, lineno) + ": min == max" + which + "; cannot scale");
    s.scalingFactor = (Smax - Smin) / (s.Gmax - s.Gmin);
  } else if (m.scalingType == ST_SCALESIGMA) {
    if (s.Gsigma == 0.0)
      throw ModelError(where(fscaling, lineno) + ": sigma is missing or zero" + which +
                       " (needed by scale_symmetry_functions_sigma)");
    s.scalingFactor = (Smax - Smin) / s.Gsigma;
  } else {
    s.scalingFactor = 1.0;
  }
}

// Scaling type, Smin/Smax and scaling.data (read even without scaling: its
// min/max drive the extrapolation warnings, as in n2p2).
void ModelSetup::setupSymmetryFunctionScaling(const std::string &text, const std::string &fscaling)
{
  bool sc = st.has("scale_symmetry_functions"), ce = st.has("center_symmetry_functions");
  m.scalingType = sc && !ce ? ST_SCALE : !sc && ce ? ST_CENTER : sc && ce ? ST_SCALECENTER
                  : st.has("scale_symmetry_functions_sigma") ? ST_SCALESIGMA : ST_NONE;
  Smin = Smax = 0.0;
  if (m.scalingType == ST_SCALE || m.scalingType == ST_SCALECENTER || m.scalingType == ST_SCALESIGMA) {
    Smax = 1.0;
    if (st.has("scale_min_short")) {
      const Entry &e = st.single("scale_min_short");
      Smin = to_double(first_value(e.value, fnn, e.line, "scale_min_short"), fnn, e.line, "scale_min_short");
    }
    if (st.has("scale_max_short")) {
      const Entry &e = st.single("scale_max_short");
      Smax = to_double(first_value(e.value, fnn, e.line, "scale_max_short"), fnn, e.line, "scale_max_short");
    }
  }
  std::vector<ElementModel> &elements = m.elements;
  auto skip_full = [&](size_t &ie, size_t &is) {
    while (ie < elements.size() && is >= elements[ie].sf.size()) {
      ++ie;
      is = 0;
    }
  };
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  size_t ie = 0, is = 0;
  while (std::getline(in, raw)) {
    ++lineno;
    std::vector<std::string> t = split_ws(raw);
    if (t.empty() || t[0][0] == '#') continue;
    skip_full(ie, is);
    if (ie >= elements.size()) {
      size_t ntot = 0;
      for (auto &em : elements) ntot += em.sf.size();
      throw ModelError(where(fscaling, lineno) + ": more rows than symmetry functions in " + fnn + " (" +
                       std::to_string(ntot) + ")");
    }
    if (t.size() < 5)
      throw ModelError(where(fscaling, lineno) + ": expected 'element-index sf-index min max mean [sigma]', found " +
                       std::to_string(t.size()) + " columns");
    long e_idx = to_long(t[0], fscaling, lineno, "element index");
    long s_idx = to_long(t[1], fscaling, lineno, "symmetry function index");
    if (e_idx != (long) ie + 1 || s_idx != (long) is + 1)
      throw ModelError(where(fscaling, lineno) + ": expected element " + std::to_string(ie + 1) + " (" +
                       elements[ie].symbol + ") symmetry function " + std::to_string(is + 1) + ", found " + t[0] +
                       " " + t[1] + " (element " + elements[ie].symbol + " has " +
                       std::to_string(elements[ie].sf.size()) + " symmetry functions in " + fnn + ")");
    setScaling(elements[ie].sf[is], t, fscaling, lineno, ie, is);
    ++is;
  }
  skip_full(ie, is);
  if (ie < elements.size())
    throw ModelError(fscaling + ": too few rows: no scaling data for element " + elements[ie].symbol +
                     " symmetry function " + std::to_string(is + 1) + " (expected " +
                     std::to_string(elements[ie].sf.size()) + " rows for this element)");
}

// Layer sizes and activations (global_*_short, element_nodes_short).
void ModelSetup::setupNeuralNetwork()
{
  m.normalizeNeurons = st.has("normalize_nodes");
  if (st.has("element_hidden_layers_short") || st.has("element_activation_short"))
    m.warnings.push_back("element_hidden_layers_short / element_activation_short are ignored, as by n2p2");
  const Entry &ehl = st.single("global_hidden_layers_short");
  long nhidden = to_long(first_value(ehl.value, fnn, ehl.line, "global_hidden_layers_short"), fnn, ehl.line,
                         "global_hidden_layers_short");
  if (nhidden < 0) throw ModelError(where(fnn, ehl.line) + ": negative number of hidden layers");
  const Entry &enodes = st.single("global_nodes_short");
  const Entry &eact = st.single("global_activation_short");
  std::vector<std::string> tn = split_ws(enodes.value), ta = split_ws(eact.value);
  if ((long) tn.size() < nhidden)
    throw ModelError(where(fnn, enodes.line) + ": global_nodes_short lists " + std::to_string(tn.size()) +
                     " layer sizes for " + std::to_string(nhidden) + " hidden layers");
  if ((long) ta.size() < nhidden)
    throw ModelError(where(fnn, eact.line) + ": global_activation_short lists " + std::to_string(ta.size()) +
                     " activations for " + std::to_string(nhidden) + " hidden layers (+ output)");
  std::vector<int> hidden_nodes(nhidden);
  hiddenAct.assign(nhidden, 0);
  for (long l = 0; l < nhidden; ++l) {
    long n = to_long(tn[l], fnn, enodes.line, "number of nodes");
    if (n <= 0) throw ModelError(where(fnn, enodes.line) + ": layer sizes must be positive");
    hidden_nodes[l] = (int) n;
    hiddenAct[l] = parse_activation(ta[l], fnn, eact.line);
  }
  if ((long) ta.size() > nhidden) {
    parse_activation(ta[nhidden], fnn, eact.line);
    if (ta[nhidden] != "l")
      m.warnings.push_back("output activation '" + ta[nhidden] + "' is ignored: n2p2 always uses a linear output");
  }
  nodes.assign(m.elements.size(), hidden_nodes);
  for (const Entry *e : st.all("element_nodes_short")) {
    std::vector<std::string> t = split_ws(e->value);
    if (t.size() < 3) throw ModelError(where(fnn, e->line) + ": expected 'element_nodes_short <element> <layer> <nodes>'");
    int ie = elementOf(t[0], e->line);
    long l = to_long(t[1], fnn, e->line, "layer");
    long n = to_long(t[2], fnn, e->line, "number of nodes");
    if (l < 1 || l > nhidden)
      throw ModelError(where(fnn, e->line) + ": element_nodes_short layer " + t[1] + " is not a hidden layer (1 to " +
                       std::to_string(nhidden) + ")");
    if (n <= 0) throw ModelError(where(fnn, e->line) + ": layer sizes must be positive");
    nodes[ie][l - 1] = (int) n;
  }
}

// Allocate each element's layers and read weights.NNN.data.
void ModelSetup::setupNeuralNetworkWeights(const FileReader &reader)
{
  for (size_t ie = 0; ie < m.elements.size(); ++ie) {
    ElementModel &em = m.elements[ie];
    std::vector<int> sizes;
    sizes.push_back((int) em.sf.size());
    for (int n : nodes[ie]) sizes.push_back(n);
    sizes.push_back(1);
    std::string shape;
    for (size_t l = 0; l < sizes.size(); ++l) shape += (l ? "-" : "") + std::to_string(sizes[l]);
    em.layers.clear();
    em.maxLayerWidth = 0;
    size_t nweights = 0;
    for (size_t l = 1; l < sizes.size(); ++l) {
      DenseLayer L;
      L.nin = sizes[l - 1];
      L.nout = sizes[l];
      L.activation = (l + 1 == sizes.size()) ? AF_IDENTITY : hiddenAct[l - 1];
      L.W.assign((size_t) L.nin * L.nout, 0.0);
      L.b.assign(L.nout, 0.0);
      nweights += (size_t) L.nin * L.nout + L.nout;
      em.maxLayerWidth = std::max(em.maxLayerWidth, std::max(L.nin, L.nout));
      em.layers.push_back(L);
    }
    char name[64];
    std::snprintf(name, sizeof(name), "weights.%03d.data", em.Z);
    const std::string fw = m.directory + name;
    readWeights(em, reader(fw), fw, shape, nweights);
  }
}

// n2p2 NeuralNetwork::setConnections order: for each layer, weights
// (previous-layer neuron j outer, neuron k inner), then biases.
void ModelSetup::readWeights(ElementModel &em, const std::string &text, const std::string &fw,
                             const std::string &shape, size_t nweights) const
{
  const std::string net = ", but the network " + shape + " defined by " + fnn;
  std::istringstream is(text);
  std::string raw;
  int lineno = 0;
  size_t count = 0, layer = 0, pos = 0;  // pos: position within the current layer's block
  while (std::getline(is, raw)) {
    ++lineno;
    std::vector<std::string> t = split_ws(raw);
    if (t.empty() || t[0][0] == '#') continue;
    double v = to_double(t[0], fw, lineno, "weight");
    if (count++ >= nweights) continue;
    DenseLayer &L = em.layers[layer];
    size_t nw = (size_t) L.nin * L.nout;
    bool weight = t.size() >= 7 && t[1] == "a", bias = t.size() >= 5 && t[1] == "b";
    if (pos < nw) {
      size_t j = pos / L.nout, k = pos % L.nout;
      if (weight) {
        long ls = to_long(t[3], fw, lineno, "l_s"), ns = to_long(t[4], fw, lineno, "n_s");
        long le = to_long(t[5], fw, lineno, "l_e"), ne = to_long(t[6], fw, lineno, "n_e");
        if (ls != (long) layer || ns != (long) j + 1 || le != (long) layer + 1 || ne != (long) k + 1)
          throw ModelError(where(fw, lineno) + ": weight connects layer " + t[3] + " neuron " + t[4] + " to layer " +
                           t[5] + " neuron " + t[6] + net + " expects layer " + std::to_string(layer) + " neuron " +
                           std::to_string(j + 1) + " to layer " + std::to_string(layer + 1) + " neuron " +
                           std::to_string(k + 1) + " here (wrong layer sizes?)");
      } else if (bias) {
        throw ModelError(where(fw, lineno) + ": found a bias where the network " + shape + " defined by " + fnn +
                         " expects a weight of layer " + std::to_string(layer + 1) + " (wrong layer sizes?)");
      }
      L.W[k * (size_t) L.nin + j] = v;
    } else {
      size_t k = pos - nw;
      if (bias) {
        long le = to_long(t[3], fw, lineno, "l_e"), ne = to_long(t[4], fw, lineno, "n_e");
        if (le != (long) layer + 1 || ne != (long) k + 1)
          throw ModelError(where(fw, lineno) + ": bias of layer " + t[3] + " neuron " + t[4] + net +
                           " expects layer " + std::to_string(layer + 1) + " neuron " + std::to_string(k + 1) +
                           " here (wrong layer sizes?)");
      } else if (weight) {
        throw ModelError(where(fw, lineno) + ": found a weight where the network " + shape + " defined by " + fnn +
                         " expects a bias of layer " + std::to_string(layer + 1) + " (wrong layer sizes?)");
      }
      L.b[k] = v;
    }
    if (++pos == nw + (size_t) L.nout) {
      ++layer;
      pos = 0;
    }
  }
  if (count != nweights)
    throw ModelError(fw + ": contains " + std::to_string(count) + " weights and biases, but the network " + shape +
                     " of element " + em.symbol + " defined by " + fnn + " needs " + std::to_string(nweights) +
                     " (wrong layer sizes?)");
}

}  // namespace

void Model::load(const std::string &dir_in, const FileReader &reader)
{
  directory = dir_in;
  if (!directory.empty() && directory.back() != '/') directory += '/';
  const std::string fnn = directory + "input.nn";
  const std::string fscaling = directory + "scaling.data";

  Settings st;
  st.parse(reader(fnn), fnn);
  elements.clear();
  warnings.clear();

  ModelSetup setup(*this, st, fnn);
  setup.checkPotentialType();
  setup.setupElementMap();
  setup.setupNormalization();
  setup.setupElements();
  setup.setupCutoff();
  setup.setupSymmetryFunctions();
  setup.setupSymmetryFunctionScaling(reader(fscaling), fscaling);
  setup.setupNeuralNetwork();
  setup.setupNeuralNetworkWeights(reader);
  for (auto &em : elements) {  // n2p2 Mode::setupSymmetryFunctionGroups
    setup_groups(em);
    maxCutoff = std::max(maxCutoff, em.rcMax);
  }
}

void Model::setup_groups(ElementModel &em)
{
  em.rcList.clear();
  for (const auto &s : em.sf) em.rcList.push_back(s.rc);
  std::sort(em.rcList.begin(), em.rcList.end());
  em.rcList.erase(std::unique(em.rcList.begin(), em.rcList.end()), em.rcList.end());
  em.rcMax = em.rcList.back();
  em.cutoffs.clear();
  for (double rc : em.rcList) {
    CutoffFunction c;
    c.set(cutoffType, rc, cutoffAlpha);
    em.cutoffs.push_back(c);
  }
  auto rc_index = [&](double rc) {
    return (int) (std::lower_bound(em.rcList.begin(), em.rcList.end(), rc) - em.rcList.begin());
  };
  em.radial.clear();
  em.angular.clear();
  for (int i = 0; i < (int) em.sf.size(); ++i) {
    const SymmetryFunction &s = em.sf[i];
    int ci = rc_index(s.rc);
    if (s.type == 2 || s.type == 12) {
      int e1 = s.type == 2 ? s.e1 : -1;
      RadialGroup *g = nullptr;
      for (auto &r : em.radial)
        if (r.type == s.type && r.e1 == e1 && r.rcIndex == ci) g = &r;
      if (!g) {
        em.radial.emplace_back();
        g = &em.radial.back();
        g->type = s.type;
        g->e1 = e1;
        g->rcIndex = ci;
      }
      g->sf.push_back(i);
      g->eta.push_back(s.eta);
      g->rs.push_back(s.rs);
    } else {
      int e1 = s.type == 13 ? -1 : s.e1, e2 = s.type == 13 ? -1 : s.e2;
      AngularGroup *g = nullptr;
      for (auto &a : em.angular)
        if (a.type == s.type && a.e1 == e1 && a.e2 == e2 && a.rcIndex == ci) g = &a;
      if (!g) {
        em.angular.emplace_back();
        g = &em.angular.back();
        g->type = s.type;
        g->e1 = e1;
        g->e2 = e2;
        g->rcIndex = ci;
        g->rc = s.rc;
      }
      int ei = -1;
      for (size_t k = 0; k < g->expEta.size(); ++k)
        if (g->expEta[k] == s.eta && g->expRs[k] == s.rs) ei = (int) k;
      if (ei < 0) {
        ei = (int) g->expEta.size();
        g->expEta.push_back(s.eta);
        g->expRs.push_back(s.rs);
      }
      g->sf.push_back(i);
      g->expIndex.push_back(ei);
      g->lambda.push_back(s.lambda);
      g->zeta.push_back(s.zeta);
      g->zetaLambda.push_back(s.zeta * s.lambda);
      g->twoEta.push_back(2.0 * s.eta);
      g->rs.push_back(s.rs);
      g->norm.push_back(std::pow(2.0, 1.0 - s.zeta));
      g->zetaInt.push_back(s.zetaInt);
      g->useIntegerPow.push_back(s.useIntegerPow ? 1 : 0);
    }
  }
  for (auto &g : em.angular) {
    g.lamValue.clear();
    g.lamStart.clear();
    g.lamMembers.clear();
    g.lamSquares.clear();
    for (size_t m = 0; m < g.sf.size(); ++m)
      if (std::find(g.lamValue.begin(), g.lamValue.end(), g.lambda[m]) == g.lamValue.end())
        g.lamValue.push_back(g.lambda[m]);
    for (double lam : g.lamValue) {
      g.lamStart.push_back((int) g.lamMembers.size());
      int squares = 0;
      for (size_t m = 0; m < g.sf.size(); ++m) {
        if (g.lambda[m] != lam) continue;
        g.lamMembers.push_back((int) m);
        int n = g.zetaInt[m] - 1;
        if (g.useIntegerPow[m] && n > 0) {
          int bits = 0;
          while (n >> bits) ++bits;
          squares = std::max(squares, bits - 1);
        }
      }
      g.lamSquares.push_back(squares);
    }
    g.lamStart.push_back((int) g.lamMembers.size());
  }
}

std::string Model::summary() const
{
  std::ostringstream os;
  std::vector<std::string> syms;
  for (const auto &em : elements) syms.push_back(em.symbol);
  os << "hdnnp (hdnnp-toolkit plugin): n2p2 potential from " << directory << "\n";
  os << "  elements:";
  for (const auto &em : elements) os << " " << em.symbol << " (Z=" << em.Z << ")";
  os << "\n";
  if (normalize)
    os << "  normalisation: mean_energy " << fmt_double(meanEnergy) << ", conv_energy " << fmt_double(convEnergy)
       << ", conv_length " << fmt_double(convLength) << "\n";
  else
    os << "  normalisation: none\n";
  os << "  cutoff_type " << cutoffType << " alpha " << fmt_double(cutoffAlpha) << "; symmetry-function scaling: "
     << scaling_name(scalingType) << "\n";
  for (const auto &em : elements) {
    os << "  " << em.symbol << ": " << em.sf.size() << " symmetry functions (" << em.radial.size()
       << " radial and " << em.angular.size() << " angular groups), network " << em.sf.size();
    for (const auto &L : em.layers) os << "-" << L.nout << activation_letter(L.activation);
    os << ", energy offset " << fmt_double(em.energyOffset) << "\n";
    for (size_t i = 0; i < em.sf.size(); ++i) {
      SymmetryFunction s = em.sf[i];
      if (normalize) {  // report in the units of input.nn
        s.eta *= convLength * convLength;
        s.rs /= convLength;
        s.rc /= convLength;
      }
      char buf[32];
      std::snprintf(buf, sizeof(buf), "    %4zu ", i + 1);
      os << buf << s.describe(syms) << "\n";
    }
  }
  if (normalizeNeurons) os << "  normalize_nodes: on\n";
  for (const auto &w : warnings) os << "  WARNING: " << w << "\n";
  return os.str();
}

// ---------------------------------------------------------------------------

double Model::network(const ElementModel &em, const double *input, double *dEdG, Workspace &ws,
                      bool derivatives) const
{
  const size_t nL = em.layers.size();
  size_t total = 0;
  for (const auto &L : em.layers) total += L.nout;
  if (ws.act.size() < total) {
    ws.act.resize(total);
    ws.dact.resize(total);
  }
  const double *prev = input;
  size_t off = 0;
  for (size_t l = 0; l < nL; ++l) {
    const DenseLayer &L = em.layers[l];
    double *a = &ws.act[off];
    double *da = &ws.dact[off];
    for (int k = 0; k < L.nout; ++k) {
      const double *w = &L.W[(size_t) k * L.nin];
      double x = 0.0;
      for (int j = 0; j < L.nin; ++j) x += w[j] * prev[j];
      x += L.b[k];
      if (normalizeNeurons) x /= L.nin;
      double v, dv;
      switch (L.activation) {
        case AF_IDENTITY:
          v = x;
          dv = 1.0;
          break;
        case AF_TANH: {
          double t = std::tanh(x);
          v = t;
          dv = 1.0 - t * t;
          break;
        }
        case AF_LOGISTIC:
          if (x > kExpLimit) {
            v = 1.0;
            dv = 0.0;
          } else if (x < -kExpLimit) {
            v = 0.0;
            dv = 0.0;
          } else {
            double t = 1.0 / (1.0 + std::exp(-x));
            v = t;
            dv = t * (1.0 - t);
          }
          break;
        case AF_SOFTPLUS:
          if (x > kExpLimit) {
            v = x;
            dv = 1.0;
          } else if (x < -kExpLimit) {
            v = 0.0;
            dv = 0.0;
          } else {
            double t = std::exp(x);
            v = std::log(1.0 + t);
            dv = 1.0 / (1.0 + 1.0 / t);
          }
          break;
        case AF_RELU:
          if (x > 0.0) {
            v = x;
            dv = 1.0;
          } else {
            v = 0.0;
            dv = 0.0;
          }
          break;
        case AF_GAUSSIAN: {
          double t = std::exp(-0.5 * x * x);
          v = t;
          dv = -x * t;
          break;
        }
        case AF_COS:
          v = std::cos(x);
          dv = -std::sin(x);
          break;
        case AF_REVLOGISTIC: {
          double t = 1.0 / (1.0 + std::exp(-x));
          v = 1.0 - t;
          dv = t * (t - 1.0);
          break;
        }
        case AF_EXP: {
          double t = std::exp(-x);
          v = t;
          dv = -t;
          break;
        }
        default: {  // AF_HARMONIC
          v = x * x;
          dv = 2.0 * x;
          break;
        }
      }
      a[k] = v;
      da[k] = dv;
    }
    prev = a;
    off += L.nout;
  }
  const double energy = prev[0];
  if (!derivatives) return energy;

  // Reverse mode: g holds dE/d(activation) of the current layer.
  const int width = em.maxLayerWidth;
  if ((int) ws.delta.size() < width) {
    ws.delta.resize(width);
    ws.delta2.resize(width);
  }
  double *g = ws.delta.data();
  double *gprev = ws.delta2.data();
  g[0] = 1.0;
  for (size_t l = nL; l-- > 0;) {
    const DenseLayer &L = em.layers[l];
    off -= L.nout;
    const double *da = &ws.dact[off];
    for (int k = 0; k < L.nout; ++k) {
      g[k] *= da[k];
      if (normalizeNeurons) g[k] /= L.nin;
    }
    double *out = (l == 0) ? dEdG : gprev;
    for (int j = 0; j < L.nin; ++j) out[j] = 0.0;
    for (int k = 0; k < L.nout; ++k) {
      const double gk = g[k];
      const double *w = &L.W[(size_t) k * L.nin];
      for (int j = 0; j < L.nin; ++j) out[j] += w[j] * gk;
    }
    std::swap(g, gprev);
  }
  return energy;
}

double Model::evaluate(int elem, const NeighborVec *nb, int nn, Workspace &ws, bool derivatives) const
{
  const ElementModel &em = elements[elem];
  const int nsf = (int) em.sf.size();
  const int nrc = (int) em.rcList.size();
  const int ne = (int) elements.size();
  const int nlists = nrc * (ne + 1);

  ws.G.assign(nsf, 0.0);
  if ((int) ws.fc.size() < nrc * nn) {
    ws.fc.resize((size_t) nrc * nn);
    ws.dfc.resize((size_t) nrc * nn);
  }
  if ((int) ws.lists.size() < nlists) ws.lists.resize(nlists);
  for (int i = 0; i < nlists; ++i) ws.lists[i].clear();

  // Cutoff function values once per neighbour and cutoff radius (n2p2's
  // symmetry-function cache), and neighbour lists per (cutoff, element).
  if ((int) ws.invr.size() < nn) {
    ws.invr.resize(nn);
    ws.invr2.resize(nn);
  }
  for (int j = 0; j < nn; ++j) {
    const double r = nb[j].r;
    ws.invr[j] = 1.0 / r;
    ws.invr2[j] = 1.0 / (r * r);
    for (int c = 0; c < nrc; ++c) {
      double *fc = &ws.fc[(size_t) c * nn + j];
      double *dfc = &ws.dfc[(size_t) c * nn + j];
      if (r < em.rcList[c]) {
        em.cutoffs[c].fdf(r, *fc, *dfc);
        ws.lists[c * (ne + 1) + nb[j].element].push_back(j);
        ws.lists[c * (ne + 1) + ne].push_back(j);
      } else {
        *fc = 0.0;
        *dfc = 0.0;
      }
    }
  }

  double *G = ws.G.data();

  // Radial functions (types 2 and 12).
  if (ws.radialDer.size() < em.radial.size()) {
    ws.radialDer.resize(em.radial.size());
    ws.radialNb.resize(em.radial.size());
  }
  for (size_t gi = 0; gi < em.radial.size(); ++gi) {
    const RadialGroup &g = em.radial[gi];
    const int c = g.rcIndex;
    const std::vector<int> &list = ws.lists[c * (ne + 1) + (g.type == 2 ? g.e1 : ne)];
    const int nm = (int) g.sf.size();
    std::vector<double> &der = ws.radialDer[gi];
    if (derivatives && der.size() < list.size() * nm) der.resize(list.size() * nm);
    const double *fcs = &ws.fc[(size_t) c * nn];
    const double *dfcs = &ws.dfc[(size_t) c * nn];
    for (size_t q = 0; q < list.size(); ++q) {
      const int j = list[q];
      const double r = nb[j].r;
      const double fc = fcs[j], dfc = dfcs[j];
      const double zw = g.type == 12 ? (double) elements[nb[j].element].Z : 1.0;
      for (int m = 0; m < nm; ++m) {
        const double rr = r - g.rs[m];
        const double pexp = g.type == 12 ? zw * std::exp(-g.eta[m] * rr * rr) : std::exp(-g.eta[m] * rr * rr);
        G[g.sf[m]] += pexp * fc;
        if (derivatives) der[q * nm + m] = (dfc - 2.0 * g.eta[m] * rr * fc) * pexp;
      }
    }
  }

  // Angular functions (types 3, 9, 13).
  if (ws.angularP.size() < em.angular.size()) {
    ws.angularP.resize(em.angular.size());
    ws.angularPairs.resize(em.angular.size());
  }
  double expv[64];
  std::vector<double> expHeap;
  for (size_t gi = 0; gi < em.angular.size(); ++gi) {
    const AngularGroup &g = em.angular[gi];
    const int c = g.rcIndex;
    const bool narrow = (g.type == 3 || g.type == 13);
    const bool weighted = (g.type == 13);
    const int nm = (int) g.sf.size();
    const int nexp = (int) g.expEta.size();
    double *ex = expv;
    if (nexp > 64) {
      expHeap.resize(nexp);
      ex = expHeap.data();
    }
    const double rc2 = g.rc * g.rc;
    const CutoffFunction &cut = em.cutoffs[c];
    const double *fcs = &ws.fc[(size_t) c * nn];
    const double *dfcs = &ws.dfc[(size_t) c * nn];
    std::vector<int> &pairs = ws.angularPairs[gi];
    std::vector<double> &P = ws.angularP[gi];
    pairs.clear();
    size_t np = 0;

    const std::vector<int> *La, *Lb;
    bool same;
    if (weighted) {
      La = Lb = &ws.lists[c * (ne + 1) + ne];
      same = true;
    } else {
      La = &ws.lists[c * (ne + 1) + g.e1];
      Lb = &ws.lists[c * (ne + 1) + g.e2];
      same = (g.e1 == g.e2);
    }
    const size_t na = La->size(), nbb = Lb->size();
    for (size_t qa = 0; qa < na; ++qa) {
      const int j = (*La)[qa];
      const NeighborVec &nj = nb[j];
      const double rij = nj.r;
      const double inv_rij = ws.invr[j], inv_r2ij = ws.invr2[j];
      const double pfcij = fcs[j], pdfcij = dfcs[j];
      for (size_t qb = same ? qa + 1 : 0; qb < nbb; ++qb) {
        const int k = (*Lb)[qb];
        const NeighborVec &nk = nb[k];
        const double rik = nk.r;
        double rjk = 0.0, inv_rjk = 0.0, pfcjk = 1.0, pdfcjk = 0.0;
        if (narrow) {
          const double dx = nk.d[0] - nj.d[0], dy = nk.d[1] - nj.d[1], dz = nk.d[2] - nj.d[2];
          const double rjk2 = dx * dx + dy * dy + dz * dz;
          if (rjk2 >= rc2) continue;
          rjk = std::sqrt(rjk2);
          inv_rjk = 1.0 / rjk;
          cut.fdf(rjk, pfcjk, pdfcjk);
        }
        const double pfcik = fcs[k], pdfcik = dfcs[k];
        const double inv_rik = ws.invr[k], inv_r2ik = ws.invr2[k];
        const double rinvijik = inv_rij * inv_rik;
        const double costijk = (nj.d[0] * nk.d[0] + nj.d[1] * nk.d[1] + nj.d[2] * nk.d[2]) * rinvijik;
        const double pfc = pfcij * pfcik * pfcjk;
        const double zw = weighted ? (double) elements[nj.element].Z * (double) elements[nk.element].Z : 1.0;
        for (int e = 0; e < nexp; ++e) {
          const double rs = g.expRs[e];
          const double rijs = rij - rs, riks = rik - rs;
          double s2 = rijs * rijs + riks * riks;
          if (narrow) {
            const double rjks = rjk - rs;
            s2 += rjks * rjks;
          }
          ex[e] = weighted ? zw * std::exp(-g.expEta[e] * s2) : std::exp(-g.expEta[e] * s2);
        }
        double *p = nullptr;
        if (derivatives) {
          pairs.push_back(j);
          pairs.push_back(k);
          if (P.size() < (np + 1) * 3 * nm) P.resize(std::max(P.size() * 2, (np + 1) * 3 * nm));
          p = &P[np * 3 * nm];
          ++np;
        }
        const double pr1 = pfcik * pfcjk * pdfcij * inv_rij;
        const double pr2 = pfcij * pfcjk * pdfcik * inv_rik;
        const double pr3 = narrow ? pfcij * pfcik * pdfcjk * inv_rjk : 0.0;
        const int nlam = (int) g.lamValue.size();
        for (int u = 0; u < nlam; ++u) {
          const double plambda = 1.0 + g.lamValue[u] * costijk;
          const int tb = g.lamStart[u], te = g.lamStart[u + 1];
          if (plambda <= 0.0) {  // n2p2: the term and its derivative vanish
            if (derivatives)
              for (int t = tb; t < te; ++t) {
                const int m = g.lamMembers[t];
                p[3 * m] = p[3 * m + 1] = p[3 * m + 2] = 0.0;
              }
            continue;
          }
          double sq[32];
          sq[0] = plambda;
          for (int q = 1; q <= g.lamSquares[u]; ++q) sq[q] = sq[q - 1] * sq[q - 1];
          for (int t = tb; t < te; ++t) {
            const int m = g.lamMembers[t];
            double fg = ex[g.expIndex[m]];
            if (g.useIntegerPow[m]) {
              int n = g.zetaInt[m] - 1;
              if (n >= 0) {  // = pow_int(plambda, n), same multiplications
                double v = 1.0;
                for (int q = 0; n; ++q, n >>= 1)
                  if (n & 1) v *= sq[q];
                fg *= v;
              } else {
                fg *= pow_int(plambda, n);
              }
            } else {
              fg *= std::pow(plambda, g.zeta[m] - 1.0);
            }
            G[g.sf[m]] += fg * plambda * pfc;
            if (!derivatives) continue;
            // n2p2 SymFncExpAng{n,w}::calculate derivative factors; with
            // d_j = r_j - r_i and d_jk = d_k - d_j:
            //   dG/dd_j = p1 d_j + p3 d_jk,  dG/dd_k = p2 d_k - p3 d_jk.
            fg *= g.norm[m];
            const double rinv = rinvijik * g.zetaLambda[m];
            const double cosz = costijk * g.zetaLambda[m];
            const double p2etapl = g.twoEta[m] * plambda;
            const double rs = g.rs[m];
            const double rijs = rij - rs, riks = rik - rs;
            const double p1 = fg * (pfc * (rinv - cosz * inv_r2ij - p2etapl * rijs * inv_rij) + pr1 * plambda);
            const double p2 = fg * (pfc * (rinv - cosz * inv_r2ik - p2etapl * riks * inv_rik) + pr2 * plambda);
            double p3;
            if (narrow)
              p3 = fg * (pfc * (rinv + p2etapl * (rjk - rs) * inv_rjk) - pr3 * plambda);
            else
              p3 = fg * pfc * rinv;
            p[3 * m] = p1;
            p[3 * m + 1] = p2;
            p[3 * m + 2] = p3;
          }
        }
      }
    }
    for (int m = 0; m < nm; ++m) G[g.sf[m]] *= g.norm[m];
  }

  // Scaling and network.
  if ((int) ws.Gs.size() < nsf) {
    ws.Gs.resize(nsf);
    ws.dEdG.resize(nsf);
    ws.w.resize(nsf);
  }
  for (int s = 0; s < nsf; ++s) ws.Gs[s] = em.sf[s].scale(G[s]);
  const double energy = network(em, ws.Gs.data(), ws.dEdG.data(), ws, derivatives);
  if (!derivatives) return energy;

  // Forces: dE/dd_j = sum_s dE/dGs_s * scalingFactor_s * dG_s/dd_j.
  double *w = ws.w.data();
  for (int s = 0; s < nsf; ++s) w[s] = ws.dEdG[s] * em.sf[s].scalingFactor;
  if ((int) ws.grad.size() < 3 * nn) ws.grad.resize(3 * (size_t) nn);
  double *grad = ws.grad.data();
  std::fill(grad, grad + 3 * (size_t) nn, 0.0);

  for (size_t gi = 0; gi < em.radial.size(); ++gi) {
    const RadialGroup &g = em.radial[gi];
    const std::vector<int> &list = ws.lists[g.rcIndex * (ne + 1) + (g.type == 2 ? g.e1 : ne)];
    const int nm = (int) g.sf.size();
    const double *der = ws.radialDer[gi].data();
    for (size_t q = 0; q < list.size(); ++q) {
      const int j = list[q];
      double s = 0.0;
      for (int m = 0; m < nm; ++m) s += w[g.sf[m]] * der[q * nm + m];
      s *= ws.invr[j];
      grad[3 * j] += s * nb[j].d[0];
      grad[3 * j + 1] += s * nb[j].d[1];
      grad[3 * j + 2] += s * nb[j].d[2];
    }
  }
  for (size_t gi = 0; gi < em.angular.size(); ++gi) {
    const AngularGroup &g = em.angular[gi];
    const int nm = (int) g.sf.size();
    const std::vector<int> &pairs = ws.angularPairs[gi];
    const double *P = ws.angularP[gi].data();
    const size_t np = pairs.size() / 2;
    double wm[64];
    std::vector<double> wheap;
    double *wg = wm;
    if (nm > 64) {
      wheap.resize(nm);
      wg = wheap.data();
    }
    for (int m = 0; m < nm; ++m) wg[m] = w[g.sf[m]];
    for (size_t q = 0; q < np; ++q) {
      const int j = pairs[2 * q], k = pairs[2 * q + 1];
      const double *p = P + q * 3 * nm;
      double P1 = 0.0, P2 = 0.0, P3 = 0.0;
      for (int m = 0; m < nm; ++m) {
        P1 += wg[m] * p[3 * m];
        P2 += wg[m] * p[3 * m + 1];
        P3 += wg[m] * p[3 * m + 2];
      }
      const double *dj = nb[j].d, *dk = nb[k].d;
      for (int a = 0; a < 3; ++a) {
        const double djk = dk[a] - dj[a];
        grad[3 * j + a] += P1 * dj[a] + P3 * djk;
        grad[3 * k + a] += P2 * dk[a] - P3 * djk;
      }
    }
  }
  return energy;
}

}  // namespace hdnnp_toolkit
