// hdnnp-toolkit: LAMMPS pair style "hdnnp" (see pair_hdnnp_plugin.h).
//
// Each local atom i gets its energy E_i from its full neighbour list; the
// gradient of E_i with respect to each neighbour vector d_j = r_j - r_i gives
// the force on neighbour j (local or ghost) and, by translation invariance,
// the force on i.  Ghost forces are folded back onto their owners by LAMMPS'
// reverse communication with newton_pair on, and by this pair style's own
// reverse communication with newton_pair off.  The virial is the sum of
// d_j (x) F_j over all contributions, so it needs no ghost-atom positions.

#include "pair_hdnnp_plugin.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include <mpi.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

using namespace LAMMPS_NS;
using namespace hdnnp_toolkit;

namespace {

// Broadcast a string from rank 0.
void bcast_string(std::string &s, MPI_Comm comm, int me)
{
  long n = (me == 0) ? (long) s.size() : 0;
  MPI_Bcast(&n, 1, MPI_LONG, 0, comm);
  if (me != 0) s.resize(n);
  if (n > 0) MPI_Bcast(&s[0], (int) n, MPI_CHAR, 0, comm);
}

}  // namespace

/* ---------------------------------------------------------------------- */

PairHDNNPToolkit::PairHDNNPToolkit(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  reinitflag = 0;
  unit_convert_flag = 0;
  // The virial is accumulated explicitly in compute(): correct for
  // newton_pair on and off, independent of ghost positions.
  no_virial_fdotr_compute = 1;
  // Own reverse communication (forces + per-atom virial of ghosts) when
  // newton_pair is off.
  comm_reverse = 9;
  comm_reverse_off = 9;
}

PairHDNNPToolkit::~PairHDNNPToolkit()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

/* ---------------------------------------------------------------------- */

void PairHDNNPToolkit::allocate()
{
  allocated = 1;
  int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++) setflag[i][j] = 0;
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
}

/* ----------------------------------------------------------------------
   pair_style hdnnp <rcut> keyword value ...   (n2p2 / ML-HDNNP syntax)
------------------------------------------------------------------------- */

void PairHDNNPToolkit::settings(int narg, char **arg)
{
  if (narg < 1)
    error->all(FLERR, "Illegal pair_style hdnnp command: expected 'pair_style hdnnp <cutoff> [keyword value ...]'");
  cutoff = utils::numeric(FLERR, arg[0], false, lmp);
  if (cutoff <= 0.0) error->all(FLERR, "Illegal pair_style hdnnp command: cutoff must be positive");

  directory = "hdnnp/";
  showew = true;
  showewsum = 0;
  maxew = 0;
  resetew = false;
  cflength = 1.0;
  cfenergy = 1.0;
  numEWTotal = 0;
  numEWSummary = 0;

  int iarg = 1;
  while (iarg < narg) {
    std::string key = arg[iarg];
    if (iarg + 2 > narg)
      error->all(FLERR, "Illegal pair_style hdnnp command: keyword '" + key + "' needs a value");
    const char *val = arg[iarg + 1];
    if (key == "dir")
      directory = val;
    else if (key == "showew")
      showew = utils::logical(FLERR, val, false, lmp) == 1;
    else if (key == "showewsum")
      showewsum = utils::inumeric(FLERR, val, false, lmp);
    else if (key == "maxew")
      maxew = utils::inumeric(FLERR, val, false, lmp);
    else if (key == "resetew")
      resetew = utils::logical(FLERR, val, false, lmp) == 1;
    else if (key == "cflength")
      cflength = utils::numeric(FLERR, val, false, lmp);
    else if (key == "cfenergy")
      cfenergy = utils::numeric(FLERR, val, false, lmp);
    else
      error->all(FLERR, "Illegal pair_style hdnnp command: unknown keyword '" + key +
                            "' (known: dir showew showewsum maxew resetew cflength cfenergy)");
    iarg += 2;
  }
  if (cflength <= 0.0 || cfenergy <= 0.0)
    error->all(FLERR, "Illegal pair_style hdnnp command: cflength and cfenergy must be positive");
  if (!directory.empty() && directory.back() != '/') directory += '/';
  loaded = false;  // settings may have changed the potential directory
  summary_printed = false;
}

/* ----------------------------------------------------------------------
   pair_coeff * * <element|NULL> ...
------------------------------------------------------------------------- */

void PairHDNNPToolkit::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int n = atom->ntypes;
  if (narg != 2 + n)
    error->all(FLERR, "Incorrect args for pair coefficients: pair_style hdnnp needs 'pair_coeff * * <element|NULL> "
                      "...' with one entry per atom type (" +
                          std::to_string(n) + " types)");
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "Incorrect args for pair coefficients: pair_style hdnnp needs 'pair_coeff * * ...'");

  typeElement.assign(n + 1, "NULL");
  for (int i = 1; i <= n; i++) typeElement[i] = arg[i + 1];

  if (!loaded) load_potential();
  map_types();

  int count = 0;
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++) {
      setflag[i][j] = (typeMap[i] >= 0 && typeMap[j] >= 0) ? 1 : 0;
      if (setflag[i][j]) count++;
    }
  if (count == 0) error->all(FLERR, "Incorrect args for pair coefficients: no atom type is mapped to an element");
}

/* ---------------------------------------------------------------------- */

void PairHDNNPToolkit::load_potential()
{
  // Rank 0 reads the files; everybody parses the same bytes, so that a
  // broken file gives the same error on all ranks.
  const int me = comm->me;
  std::map<std::string, std::string> files;
  std::string err;
  if (me == 0) {
    FileReader disk = [&files](const std::string &path) {
      auto it = files.find(path);
      if (it != files.end()) return it->second;
      std::string s = read_file_from_disk(path);
      files[path] = s;
      return s;
    };
    try {
      Model probe;
      probe.load(directory, disk);
    } catch (ModelError &e) {
      err = e.what();
    } catch (std::exception &e) {
      err = std::string("unexpected error while reading ") + directory + ": " + e.what();
    }
  }
  bcast_string(err, world, me);
  if (!err.empty()) error->all(FLERR, "pair_style hdnnp: " + err);

  long nfiles = (long) files.size();
  MPI_Bcast(&nfiles, 1, MPI_LONG, 0, world);
  auto it = files.begin();
  std::map<std::string, std::string> received;
  for (long k = 0; k < nfiles; ++k) {
    std::string name, content;
    if (me == 0) {
      name = it->first;
      content = it->second;
      ++it;
    }
    bcast_string(name, world, me);
    bcast_string(content, world, me);
    received[name] = content;
  }
  FileReader mem = [&received](const std::string &path) {
    auto f = received.find(path);
    if (f == received.end()) throw ModelError("file '" + path + "' was not read on rank 0");
    return f->second;
  };
  try {
    model = Model();
    model.load(directory, mem);
  } catch (std::exception &e) {
    error->all(FLERR, std::string("pair_style hdnnp: ") + e.what());
  }
  loaded = true;
  summary_printed = false;
}

void PairHDNNPToolkit::map_types()
{
  const int n = atom->ntypes;
  if ((int) typeElement.size() != n + 1)
    error->all(FLERR, "pair_style hdnnp: pair_coeff * * <elements> must be given (after pair_style and after the "
                      "number of atom types changes)");
  typeMap.assign(n + 1, -1);
  for (int i = 1; i <= n; i++) {
    if (typeElement[i] == "NULL") continue;
    int idx = model.element_index(typeElement[i]);
    if (idx < 0) {
      std::string list;
      for (const auto &em : model.elements) list += " " + em.symbol;
      error->all(FLERR, "pair_coeff hdnnp: element '" + typeElement[i] + "' (atom type " + std::to_string(i) +
                            ") is not an element of the potential in " + model.directory +
                            "input.nn (elements:" + list + ")");
    }
    typeMap[i] = idx;
  }
}

/* ---------------------------------------------------------------------- */

void PairHDNNPToolkit::init_style()
{
  if (!loaded) {
    load_potential();
    map_types();
  }
  neighbor->add_request(this, NeighConst::REQ_FULL);

  // Largest symmetry-function cutoff in LAMMPS length units (n2p2
  // InterfaceLammps::getMaxCutoffRadius); a relative 1e-12 allowance absorbs
  // the round trip through conv_length.
  const double lenconv = model.normalize ? model.convLength : 1.0;
  const double sfcut = model.maxCutoff / lenconv / cflength;
  if (cutoff < sfcut * (1.0 - 1e-12)) {
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  "pair_style hdnnp: cutoff %.10g is smaller than the largest symmetry-function cutoff "
                  "%.10g of %sinput.nn (in LAMMPS length units, i.e. divided by cflength %.10g)",
                  cutoff, sfcut, model.directory.c_str(), cflength);
    error->all(FLERR, buf);
  }
  if (comm->me == 0 && std::fabs(sfcut - cutoff) / cutoff > 1e-2) {
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  "pair_style hdnnp: cutoff %.10g differs by more than 1%% from the largest symmetry-function "
                  "cutoff %.10g: potential length units mismatch (cflength)?",
                  cutoff, sfcut);
    error->warning(FLERR, buf);
  }

  // Neighbour pre-selection radius per element (LAMMPS units, slightly
  // generous: the exact test r < rc happens in potential units).
  elemCut2.assign(model.num_elements(), 0.0);
  for (int e = 0; e < model.num_elements(); ++e) {
    double rcl = model.elements[e].rcMax / lenconv / cflength * (1.0 + 1e-10);
    elemCut2[e] = rcl * rcl;
  }

  if (comm->me == 0 && !summary_printed) {
    std::string s = model.summary();
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  "  LAMMPS units -> potential units: cflength %.10g, cfenergy %.10g; cutoff %.10g\n"
                  "  extrapolation warnings: showew %s, showewsum %d, maxew %d, resetew %s\n",
                  cflength, cfenergy, cutoff, showew ? "yes" : "no", showewsum, maxew, resetew ? "yes" : "no");
    s += buf;
    utils::logmesg(lmp, s);
    summary_printed = true;
  }
}

double PairHDNNPToolkit::init_one(int, int)
{
  return cutoff;
}

/* ---------------------------------------------------------------------- */

void PairHDNNPToolkit::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);

  double **x = atom->x;
  double **f = atom->f;
  int *type = atom->type;
  tagint *tag = atom->tag;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const bool newton = force->newton_pair != 0;

  // With newton_pair off LAMMPS neither clears nor communicates ghost
  // forces; this pair style does both itself.
  if (!newton) {
    for (int i = nlocal; i < nall; ++i) f[i][0] = f[i][1] = f[i][2] = 0.0;
    if (vflag_atom)
      for (int i = nlocal; i < nall; ++i)
        for (int k = 0; k < 6; ++k) vatom[i][k] = 0.0;
  }

  const bool normalize = model.normalize;
  const double convLength = model.convLength;
  const double convEnergy = model.convEnergy;
  const double meanEnergy = model.meanEnergy;
  // F_lammps = -dE_internal/dd_internal * fconv (n2p2 cfforce * convForce).
  const double fconv = (cflength / cfenergy) * (normalize ? convLength / convEnergy : 1.0);
  const bool checkEW = showew || showewsum > 0 || maxew >= 0;
  const double ewEps = 1000.0 * DBL_EPSILON;  // n2p2: avoid "fake" warnings at the boundaries
  long numEW = 0;
  std::string ewLines;

  const int inum = list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;

  for (int ii = 0; ii < inum; ++ii) {
    const int i = ilist[ii];
    const int ei = typeMap[type[i]];
    if (ei < 0) continue;
    const ElementModel &em = model.elements[ei];
    const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
    const double cut2 = elemCut2[ei];
    const double rcmax = em.rcMax;

    const int jnum = numneigh[i];
    const int *jlist = firstneigh[i];
    if ((int) nbs.size() < jnum) {
      nbs.resize(jnum);
      nbIndex.resize(jnum);
      nbDl.resize(3 * (size_t) jnum);
    }
    int nn = 0;
    for (int jj = 0; jj < jnum; ++jj) {
      const int j = jlist[jj] & NEIGHMASK;
      const int ej = typeMap[type[j]];
      if (ej < 0) continue;
      const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
      const double d2 = dx * dx + dy * dy + dz * dz;
      if (d2 >= cut2) continue;
      // n2p2 InterfaceLammps::addNeighbor: multiply by cflength, then by
      // conv_length.
      double r = std::sqrt(d2) * cflength;
      double ax = dx * cflength, ay = dy * cflength, az = dz * cflength;
      if (normalize) {
        r *= convLength;
        ax *= convLength;
        ay *= convLength;
        az *= convLength;
      }
      if (!(r < rcmax)) continue;
      NeighborVec &n = nbs[nn];
      n.element = ej;
      n.d[0] = ax;
      n.d[1] = ay;
      n.d[2] = az;
      n.r = r;
      nbIndex[nn] = j;
      nbDl[3 * nn] = dx;
      nbDl[3 * nn + 1] = dy;
      nbDl[3 * nn + 2] = dz;
      ++nn;
    }

    const double Ei = model.evaluate(ei, nbs.data(), nn, ws, true);

    if (checkEW) {
      const int nsf = (int) em.sf.size();
      for (int s = 0; s < nsf; ++s) {
        const SymmetryFunction &sf = em.sf[s];
        const double v = ws.G[s];
        if (v + ewEps < sf.Gmin || v - ewEps > sf.Gmax) {
          ++numEW;
          if (showew) {
            char buf[256];
            std::snprintf(buf, sizeof(buf),
                          "### NNP EXTRAPOLATION WARNING ### STRUCTURE: %6d ATOM: %9ld ELEMENT: %2s "
                          "SYMFUNC: %4d TYPE: %2d VALUE: %10.3E MIN: %10.3E MAX: %10.3E\n",
                          comm->me, tag ? (long) tag[i] : (long) i, em.symbol.c_str(), s + 1, sf.type, v,
                          sf.Gmin, sf.Gmax);
            ewLines += buf;
          }
        }
      }
    }

    if (eflag_either) {
      // Physical units of the potential (n2p2 physicalEnergy + offsets),
      // then LAMMPS units.
      const double e = normalize ? (Ei / convEnergy + meanEnergy + em.energyOffset) / cfenergy
                                 : (Ei + em.energyOffset) / cfenergy;
      if (eflag_global) eng_vdwl += e;
      if (eflag_atom) eatom[i] += e;
    }

    const double *grad = ws.grad.data();
    double fix = 0.0, fiy = 0.0, fiz = 0.0;
    double v[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (int q = 0; q < nn; ++q) {
      const int j = nbIndex[q];
      const double fx = -fconv * grad[3 * q];
      const double fy = -fconv * grad[3 * q + 1];
      const double fz = -fconv * grad[3 * q + 2];
      f[j][0] += fx;
      f[j][1] += fy;
      f[j][2] += fz;
      fix -= fx;
      fiy -= fy;
      fiz -= fz;
      if (vflag_either) {
        const double dx = nbDl[3 * q], dy = nbDl[3 * q + 1], dz = nbDl[3 * q + 2];
        const double vj[6] = {dx * fx, dy * fy, dz * fz, dx * fy, dx * fz, dy * fz};
        if (vflag_global)
          for (int k = 0; k < 6; ++k) v[k] += vj[k];
        if (vflag_atom)
          for (int k = 0; k < 6; ++k) {
            vatom[i][k] += 0.5 * vj[k];
            vatom[j][k] += 0.5 * vj[k];
          }
      }
    }
    f[i][0] += fix;
    f[i][1] += fiy;
    f[i][2] += fiz;
    if (vflag_global)
      for (int k = 0; k < 6; ++k) virial[k] += v[k];
  }

  if (!newton) comm->reverse_comm(this);

  if (checkEW) handle_extrapolation_warnings(numEW, ewLines);
}

/* ----------------------------------------------------------------------
   n2p2 PairHDNNP::handleExtrapolationWarnings semantics: counts are per
   rank; the run stops when this rank's (accumulated or, with resetew,
   current) count exceeds maxew.
------------------------------------------------------------------------- */

void PairHDNNPToolkit::handle_extrapolation_warnings(long count, const std::string &lines)
{
  if (resetew)
    numEWTotal = count;
  else
    numEWTotal += count;
  if (showewsum > 0) numEWSummary += count;

  if (showew) {
    const int nprocs = comm->nprocs;
    int len = (int) lines.size();
    std::vector<int> lens(comm->me == 0 ? nprocs : 0), displs;
    MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, world);
    std::string all;
    if (comm->me == 0) {
      displs.resize(nprocs);
      int total = 0;
      for (int p = 0; p < nprocs; ++p) {
        displs[p] = total;
        total += lens[p];
      }
      all.resize(total);
    }
    MPI_Gatherv(lines.data(), len, MPI_CHAR, comm->me == 0 ? &all[0] : nullptr, lens.data(), displs.data(),
                MPI_CHAR, 0, world);
    if (comm->me == 0 && !all.empty()) utils::logmesg(lmp, all);
  }

  if (showewsum > 0 && update->ntimestep % showewsum == 0) {
    long global = 0;
    MPI_Reduce(&numEWSummary, &global, 1, MPI_LONG, MPI_SUM, 0, world);
    if (comm->me == 0) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), "### NNP EW SUMMARY ### TS: %10ld EW %10ld EWPERSTEP %10.3e\n",
                    (long) update->ntimestep, global, double(global) / showewsum);
      utils::logmesg(lmp, buf);
    }
    numEWSummary = 0;
  }

  if (numEWTotal > maxew) {
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "Too many extrapolation warnings: %ld on rank %d exceed maxew %d (symmetry functions outside "
                  "the range of scaling.data; see pair_style hdnnp keywords maxew and resetew)",
                  numEWTotal, comm->me, maxew);
    error->one(FLERR, buf);
  }
}

/* ---------------------------------------------------------------------- */

int PairHDNNPToolkit::pack_reverse_comm(int n, int first, double *buf)
{
  double **f = atom->f;
  int m = 0;
  const int last = first + n;
  for (int i = first; i < last; i++) {
    buf[m++] = f[i][0];
    buf[m++] = f[i][1];
    buf[m++] = f[i][2];
    if (vflag_atom)
      for (int k = 0; k < 6; ++k) buf[m++] = vatom[i][k];
  }
  return m;
}

void PairHDNNPToolkit::unpack_reverse_comm(int n, int *list, double *buf)
{
  double **f = atom->f;
  int m = 0;
  for (int i = 0; i < n; i++) {
    const int j = list[i];
    f[j][0] += buf[m++];
    f[j][1] += buf[m++];
    f[j][2] += buf[m++];
    if (vflag_atom)
      for (int k = 0; k < 6; ++k) vatom[j][k] += buf[m++];
  }
}

double PairHDNNPToolkit::memory_usage()
{
  double bytes = Pair::memory_usage();
  bytes += (double) nbs.capacity() * sizeof(NeighborVec);
  bytes += (double) nbDl.capacity() * sizeof(double);
  for (const auto &v : ws.angularP) bytes += (double) v.capacity() * sizeof(double);
  for (const auto &v : ws.radialDer) bytes += (double) v.capacity() * sizeof(double);
  return bytes;
}
