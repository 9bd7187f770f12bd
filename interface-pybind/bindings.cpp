// opcast._core: Python bindings of the C++ query library. Queries arrive as dicts or JSON strings
// and are parsed by the same C++ code that serves C++ callers; errors become Python exceptions.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <rapidjson/document.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "opcast/features.hpp"
#include "opcast/predictor.hpp"

namespace py = pybind11;

namespace {

// Messages echo parts of the query; never let a stray byte turn an error into a decode error.
py::str lossy_str(const char* s) {
  return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(s, static_cast<Py_ssize_t>(std::strlen(s)), "replace"));
}

using Pool = rapidjson::MemoryPoolAllocator<>;
using Doc = rapidjson::GenericDocument<rapidjson::UTF8<>, Pool>;

rapidjson::SizeType json_size(std::size_t n) {
  if (n > 0xFFFFFFFFu) throw opcast::QueryError("", "string of " + std::to_string(n) + " bytes in a query");
  return static_cast<rapidjson::SizeType>(n);
}

// The UTF-8 text of a Python str; a str that has none (lone surrogates, as argv and file names decode
// undecodable bytes) is the query's fault, with its own message.
std::string_view utf8_of(py::handle h) {
  if (!PyUnicode_Check(h.ptr()))
    throw opcast::QueryError("", "expected a string, got " + py::type::of(h).attr("__name__").cast<std::string>());
  Py_ssize_t n = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(h.ptr(), &n);
  if (!utf8) {
    PyErr_Clear();
    throw opcast::QueryError("", "string " + py::repr(h).cast<std::string>() +
                                     " is not valid text (a lone surrogate has no UTF-8 encoding); expected UTF-8 text");
  }
  return {utf8, static_cast<std::size_t>(n)};
}

void put_string(py::handle h, Doc& doc, bool key) {
  const std::string_view s = utf8_of(h);
  if (key) doc.Key(s.data(), json_size(s.size()), true);
  else doc.String(s.data(), json_size(s.size()), true);
}

// An int of any size as a JSON integer; beyond 64 bits it is the query's fault (no field of a query
// holds such a number).
bool put_int(PyObject* o, Doc& doc) {
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow == 0 && !(v == -1 && PyErr_Occurred())) return doc.Int64(v);
  PyErr_Clear();
  const std::string text = py::str(o).cast<std::string>();
  throw opcast::QueryError("", "integer out of range: " + (text.size() > 40 ? text.substr(0, 37) + "..." : text) +
                                   "; expected a 64-bit integer");
}

// A Python query (dicts, lists, tuples, str, int, float, bool, None, numpy scalars) as JSON events
// into a rapidjson document: the DOM the C++ query parser walks, as for JSON text.
bool to_json(py::handle h, Doc& doc, int depth = 0) {
  if (depth > 32) throw opcast::QueryError("", "query nested deeper than 32 levels");
  PyObject* o = h.ptr();
  if (o == Py_None) return doc.Null();
  if (PyBool_Check(o)) return doc.Bool(o == Py_True);
  if (PyLong_Check(o)) return put_int(o, doc);
  if (PyFloat_Check(o)) return doc.Double(PyFloat_AsDouble(o));
  if (PyUnicode_Check(o)) {
    put_string(h, doc, false);
    return true;
  }
  if (PyDict_Check(o)) {
    doc.StartObject();
    rapidjson::SizeType n = 0;
    Py_ssize_t pos = 0;
    PyObject *key = nullptr, *value = nullptr;
    while (PyDict_Next(o, &pos, &key, &value)) {
      if (!PyUnicode_Check(key))
        throw opcast::QueryError("", "dict keys must be strings, got " + py::repr(key).cast<std::string>());
      put_string(key, doc, true);
      to_json(value, doc, depth + 1);
      ++n;
    }
    return doc.EndObject(n);
  }
  if (PyList_CheckExact(o) || PyTuple_CheckExact(o)) {
    doc.StartArray();
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject** items = PySequence_Fast_ITEMS(o);
    for (Py_ssize_t i = 0; i < n; ++i) to_json(items[i], doc, depth + 1);
    return doc.EndArray(static_cast<rapidjson::SizeType>(n));
  }
  if (PyList_Check(o) || PyTuple_Check(o)) {  // subclasses iterate as they define it
    doc.StartArray();
    rapidjson::SizeType n = 0;
    for (auto item : h) {
      to_json(item, doc, depth + 1);
      ++n;
    }
    return doc.EndArray(n);
  }
  // numpy scalars and other numbers: ints stay ints so shapes from numpy arrays work.
  if (py::hasattr(h, "__index__")) {
    const auto index = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    if (!index) throw py::error_already_set();
    return put_int(index.ptr(), doc);
  }
  if (py::hasattr(h, "__float__")) {
    const auto number = py::reinterpret_steal<py::object>(PyNumber_Float(o));
    if (!number) throw py::error_already_set();
    return doc.Double(PyFloat_AsDouble(number.ptr()));
  }
  // ttnn's own objects (a Tensor, TensorSpec, MemoryConfig, DataType, ...) in ttnn's JSON: opcast.ttnn_json.
  const std::string module = py::type::of(h).attr("__module__").cast<std::string>();
  if (module == "ttnn" || module.rfind("ttnn.", 0) == 0) {
    const py::object value = py::module_::import("opcast.ttnn_json").attr("to_json_value")(h);
    return to_json(value, doc, depth + 1);
  }
  throw opcast::QueryError("", "unsupported value of type " + py::type::of(h).attr("__name__").cast<std::string>() +
                                   "; expected dict, list, str, int, float, bool or None");
}

using opcast::Legality;

opcast::Query to_query_unguarded(py::handle q, Legality legality) {
  if (py::isinstance<py::str>(q)) return opcast::parse_query(utf8_of(q), legality);
  if (py::isinstance<py::bytes>(q)) return opcast::parse_query(q.cast<std::string_view>(), legality);
  if (!py::isinstance<py::dict>(q))
    throw opcast::QueryError("", "expected a query as a dict or a JSON string, got " +
                                     py::type::of(q).attr("__name__").cast<std::string>());
  // The DOM lives in a pool on this stack frame (a heap chunk only for very large queries).
  alignas(16) char buffer[8192];
  Pool pool(buffer, sizeof buffer, 16384);
  Doc doc(&pool);
  auto generate = [&](Doc& d) { return to_json(q, d); };
  doc.Populate(generate);
  return opcast::parse_query_value(doc, legality);
}

// Every way a Python value can fail to be read as a query is a QueryError: a Python exception raised
// while reading it (a __index__, __float__ or __iter__ of the caller's that raises) included.
opcast::Query to_query(py::handle q, Legality legality = Legality::checked) {
  try {
    return to_query_unguarded(q, legality);
  } catch (py::error_already_set& e) {
    const std::string what = e.what();
    e.restore();
    PyErr_Clear();
    throw opcast::QueryError("", "cannot read the query: " + what);
  } catch (const py::cast_error& e) {
    throw opcast::QueryError("", std::string("cannot read the query: ") + e.what());
  }
}

// A row's QueryError: collected, or raised naming the row.
void query_failed(std::size_t row, const opcast::QueryError& e, bool collect_errors, std::vector<std::string>& errors,
                  std::vector<bool>& ok) {
  if (!collect_errors) throw opcast::QueryError(e.field(), std::string("query ") + std::to_string(row) + ": " + e.what());
  ok[row] = false;
  errors[row] = e.what();
}

// Parses every query; with collect_errors, a bad one yields its message instead of raising. JSON text
// is only copied here (`texts`, by row) and parsed by parse_texts, which needs no GIL.
std::vector<opcast::Query> to_queries(py::iterable queries, bool collect_errors, std::vector<std::string>& errors,
                                      std::vector<bool>& ok, std::vector<std::pair<std::size_t, std::string>>* texts = nullptr) {
  std::vector<opcast::Query> parsed;
  std::size_t i = 0;
  for (py::handle q : queries) {
    parsed.emplace_back();
    ok.push_back(true);
    errors.emplace_back();
    try {
      if (texts && py::isinstance<py::str>(q)) texts->emplace_back(i, std::string(utf8_of(q)));
      else if (texts && py::isinstance<py::bytes>(q)) texts->emplace_back(i, q.cast<std::string>());
      else parsed.back() = to_query(q);
    } catch (const opcast::QueryError& e) {
      query_failed(i, e, collect_errors, errors, ok);
    }
    ++i;
  }
  return parsed;
}

// The copied JSON texts parsed (no Python object is touched: runs without the GIL).
void parse_texts(std::vector<std::pair<std::size_t, std::string>>& texts, std::vector<opcast::Query>& parsed,
                 bool collect_errors, std::vector<std::string>& errors, std::vector<bool>& ok) {
  for (auto& [row, text] : texts) {
    try {
      parsed[row] = opcast::parse_query(text);
    } catch (const opcast::QueryError& e) {
      query_failed(row, e, collect_errors, errors, ok);
    }
  }
}

// Every query parsed, raising QueryError for the first bad one (feature and roofline batches).
std::vector<opcast::Query> to_queries_strict(py::iterable queries) {
  std::vector<std::string> errors;
  std::vector<bool> ok;
  return to_queries(queries, false, errors, ok);
}

// The build an answer is for, as Python sees it: None where the model records no builds.
py::object build_of(const opcast::Prediction& p) {
  return p.build.empty() ? py::object(py::none()) : py::object(py::str(p.build));
}

py::dict prediction_columns(const opcast::Predictor& p, py::iterable queries, bool collect_errors) {
  std::vector<std::string> errors;
  std::vector<bool> ok;
  std::vector<std::pair<std::size_t, std::string>> texts;
  std::vector<opcast::Query> parsed = to_queries(queries, collect_errors, errors, ok, &texts);
  const std::size_t n = parsed.size();
  std::vector<opcast::Prediction> preds(n);
  {
    // Parsing text and predicting touch no Python object: other threads run meanwhile.
    py::gil_scoped_release release;
    parse_texts(texts, parsed, collect_errors, errors, ok);
    // The parsed rows run as one vectorised batch; a row the models cannot answer gets its own error.
    std::vector<opcast::Query> good;
    std::vector<std::size_t> where;
    for (std::size_t i = 0; i < n; ++i) {
      if (!ok[i]) continue;
      good.push_back(std::move(parsed[i]));
      where.push_back(i);
    }
    std::vector<std::string> row_errors;
    const auto answers = p.predict_batch(good, &row_errors);
    if (!collect_errors) {
      // The first row that has no answer raises, named by its row, with its own error type.
      for (std::size_t k = 0; k < where.size(); ++k) {
        if (row_errors[k].empty()) continue;
        const std::string row = "query " + std::to_string(where[k]) + ": ";
        try {
          (void)p.predict(good[k]);
        } catch (const opcast::QueryError& e) {
          throw opcast::QueryError(e.field(), row + e.what());
        } catch (const opcast::ModelError& e) {
          throw opcast::ModelError(row + e.what());
        }
      }
    }
    for (std::size_t k = 0; k < where.size(); ++k) {
      preds[where[k]] = answers[k];
      if (collect_errors && !row_errors[k].empty()) {
        ok[where[k]] = false;
        errors[where[k]] = row_errors[k];
      }
    }
  }
  py::array_t<double> ns(static_cast<py::ssize_t>(n)), lo(static_cast<py::ssize_t>(n)), hi(static_cast<py::ssize_t>(n));
  py::array_t<bool> in_domain(static_cast<py::ssize_t>(n)), valid(static_cast<py::ssize_t>(n));
  auto ns_ = ns.mutable_unchecked<1>(), lo_ = lo.mutable_unchecked<1>(), hi_ = hi.mutable_unchecked<1>();
  auto dom_ = in_domain.mutable_unchecked<1>(), valid_ = valid.mutable_unchecked<1>();
  py::list error_list, sources, builds;
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = static_cast<py::ssize_t>(i);
    valid_(k) = ok[i];
    // Unanswered rows carry NaN only as a placeholder under valid=False; the wrapper masks them.
    ns_(k) = ok[i] ? preds[i].ns : std::nan("");
    lo_(k) = ok[i] ? preds[i].lo_ns : std::nan("");
    hi_(k) = ok[i] ? preds[i].hi_ns : std::nan("");
    dom_(k) = ok[i] && preds[i].in_domain;
    error_list.append(ok[i] ? py::object(py::none()) : py::object(lossy_str(errors[i].c_str())));
    sources.append(ok[i] ? py::cast(preds[i].source) : py::none());
    builds.append(ok[i] ? build_of(preds[i]) : py::none());
  }
  py::dict out;
  out["ns"] = ns;
  out["lo_ns"] = lo;
  out["hi_ns"] = hi;
  out["in_domain"] = in_domain;
  out["valid"] = valid;
  out["source"] = sources;
  out["build"] = builds;
  out["error"] = error_list;
  return out;
}

py::dict prediction_dict(const opcast::Prediction& p) {
  py::dict d;
  d["ns"] = p.ns;
  d["lo_ns"] = p.lo_ns;
  d["hi_ns"] = p.hi_ns;
  d["in_domain"] = p.in_domain;
  d["source"] = p.source;
  d["build"] = build_of(p);
  return d;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "opcast C++ query library: query parsing, features, roofline and the ensemble predictor";

  auto value_error = py::handle(PyExc_ValueError);
  static py::exception<opcast::QueryError> query_error(m, "QueryError", value_error);
  static py::exception<opcast::ModelError> model_error(m, "ModelError", value_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const opcast::QueryError& e) {
      py::set_error(query_error, lossy_str(e.what()));
    } catch (const opcast::ModelError& e) {
      py::set_error(model_error, lossy_str(e.what()));
    }
  });

  m.attr("FEATURE_SCHEMA_VERSION") = opcast::kFeatureSchemaVersion;
  // The words of a query, as the parser knows them (opcast.vocabulary reads these).
  auto names = [](const auto& list) { return py::tuple(py::cast(std::vector<std::string>(list.begin(), list.end()))); };
  m.attr("DTYPES") = names(opcast::kDTypeNames);
  m.attr("LAYOUTS") = names(opcast::kLayoutNames);
  m.attr("MEMORIES") = names(opcast::kMemoryNames);
  m.attr("MATH_FIDELITIES") = names(opcast::kMathFidelityNames);
  m.def("canonical_dtype", [](py::handle s) { return std::string(opcast::to_string(opcast::parse_dtype(utf8_of(s), "dtype"))); },
        "The short form's name of a dtype written any way the parser reads (QueryError otherwise).");
  m.def("canonical_layout", [](py::handle s) { return std::string(opcast::to_string(opcast::parse_layout(utf8_of(s), "layout"))); },
        "The short form's name of a layout written any way the parser reads (QueryError otherwise).");
  m.def("canonical_memory", [](py::handle s) { return opcast::memory_name(opcast::parse_memory(utf8_of(s), "memory")); },
        "The short form's name of a memory config written any way the parser reads (QueryError otherwise).");
  m.def("canonical_math_fidelity",
        [](py::handle s) { return std::string(opcast::to_string(opcast::parse_math_fidelity(utf8_of(s), "math_fidelity"))); },
        "The short form's name of a math fidelity written any way the parser reads (QueryError otherwise).");
  m.def("feature_names", [] {
    const auto& names = opcast::feature_names();
    return std::vector<std::string>(names.begin(), names.end());
  });
  m.def("catalogue_json", [] { return std::string(opcast::catalogue_json()); },
        "The op catalogue the library reads (catalogue/ops.json as embedded, or $OPCAST_CATALOGUE).");
  m.def(
      "catalogue_entry",
      [](py::handle op) {
        const opcast::OpInfo* info = opcast::find_op(utf8_of(op));
        if (!info) throw opcast::QueryError("op", "unknown op \"" + std::string(utf8_of(op)) + "\"");
        return opcast::served_entry(*info).dump();
      },
      "JSON of the fields of an op's catalogue entry its model depends on (a model folder records them).");
  m.def(
      "normalize_query",
      [](py::handle q, bool legality) {
        return opcast::to_short_json(to_query(q, legality ? Legality::checked : Legality::unchecked));
      },
      py::arg("query"), py::arg("legality") = true,
      "The query in canonical short form (JSON string), as the library understood it; legality=False reads "
      "it without the legality rules (what ttnn itself refuses), as sweeps and the oracle do.");
  auto names_of = [](const auto& table) { return py::tuple(py::cast(std::vector<std::string>(std::begin(table), std::end(table)))); };
  m.attr("QUERY_KEYS") = names_of(opcast::kQueryKeys);
  m.attr("ATTRIBUTE_NAMES") = names_of(opcast::kAttributeNames);

  m.def(
      "features",
      [](py::handle q) {
        opcast::Roofline r;
        const auto f = opcast::features(to_query(q), r);
        return py::make_tuple(py::array_t<double>(static_cast<py::ssize_t>(f.size()), f.data()), r.total_ns);
      },
      "(features, roofline_ns) of one query.");
  m.def("roofline_term_names", [] {
    const auto& names = opcast::roofline_term_names();
    return std::vector<std::string>(names.begin(), names.end());
  });
  m.def(
      "features_batch",
      [](py::iterable queries, bool with_terms) -> py::tuple {
        const auto parsed = to_queries_strict(queries);
        const auto n = static_cast<py::ssize_t>(parsed.size());
        py::array_t<double> x({n, static_cast<py::ssize_t>(opcast::kNumFeatures)});
        py::array_t<double> roof(n);
        // Training needs the calibrated roofline's terms as well: one parse gives all three.
        py::array_t<double> terms({with_terms ? n : 0, static_cast<py::ssize_t>(opcast::kNumRooflineTerms)});
        auto x_ = x.mutable_unchecked<2>();
        auto r_ = roof.mutable_unchecked<1>();
        auto t_ = terms.mutable_unchecked<2>();
        for (py::ssize_t i = 0; i < n; ++i) {
          opcast::Roofline r;
          const auto f = opcast::features(parsed[static_cast<std::size_t>(i)], r);
          for (std::size_t j = 0; j < f.size(); ++j) x_(i, static_cast<py::ssize_t>(j)) = f[j];
          r_(i) = r.total_ns;
          if (!with_terms) continue;
          const auto t = opcast::roofline_terms(r);
          for (std::size_t k = 0; k < t.size(); ++k) t_(i, static_cast<py::ssize_t>(k)) = t[k];
        }
        if (with_terms) return py::make_tuple(x, roof, terms);
        return py::make_tuple(x, roof);
      },
      py::arg("queries"), py::arg("with_terms") = false,
      "(features [n x F], roofline_ns [n]) of many queries, plus the roofline terms [n x T] "
      "(roofline_term_names) with with_terms=True; raises QueryError naming the first bad one.");
  m.def(
      "roofline",
      [](py::handle q) {
        const auto terms = opcast::roofline_terms(opcast::roofline(to_query(q)));
        const auto& names = opcast::roofline_term_names();
        py::dict d;
        for (std::size_t k = 0; k < terms.size(); ++k) d[names[k]] = terms[k];
        return d;
      },
      "The Wormhole roofline estimate of one query, by component.");

  py::class_<opcast::Prediction>(m, "Prediction")
      .def(py::init([](double ns, double lo_ns, double hi_ns, bool in_domain, std::string source,
                       std::optional<std::string> build) {
             return opcast::Prediction{ns, lo_ns, hi_ns, in_domain, std::move(source), build.value_or("")};
           }),
           py::arg("ns"), py::arg("lo_ns"), py::arg("hi_ns"), py::arg("in_domain"), py::arg("source"),
           py::arg("build") = py::none())
      .def("to_dict", &prediction_dict,
           "{ns, lo_ns, hi_ns, in_domain, source, build}: json.dumps takes it as is (build None where the model "
           "records no builds).")
      .def("to_json", [](const opcast::Prediction& p) { return py::module_::import("json").attr("dumps")(prediction_dict(p)); },
           "The answer as a JSON object (to_dict, dumped).")
      .def(py::pickle(
          [](const opcast::Prediction& p) { return py::make_tuple(p.ns, p.lo_ns, p.hi_ns, p.in_domain, p.source, p.build); },
          [](const py::tuple& t) {
            if (t.size() != 6) throw std::runtime_error("Prediction: expected a state of 6 fields");
            return opcast::Prediction{t[0].cast<double>(), t[1].cast<double>(), t[2].cast<double>(), t[3].cast<bool>(),
                                      t[4].cast<std::string>(), t[5].cast<std::string>()};
          }))
      .def("__eq__",
           [](const opcast::Prediction& a, const opcast::Prediction& b) {
             return a.ns == b.ns && a.lo_ns == b.lo_ns && a.hi_ns == b.hi_ns && a.in_domain == b.in_domain &&
                    a.source == b.source && a.build == b.build;
           })
      .def_readonly("ns", &opcast::Prediction::ns)
      .def_readonly("lo_ns", &opcast::Prediction::lo_ns)
      .def_readonly("hi_ns", &opcast::Prediction::hi_ns)
      .def_readonly("in_domain", &opcast::Prediction::in_domain)
      .def_readonly("source", &opcast::Prediction::source)
      .def_property_readonly("build", &build_of,
                             "the tt-metal build the answer is for; None where the model records no builds")
      .def("__repr__", [](const opcast::Prediction& p) {
        return "Prediction(ns=" + std::to_string(p.ns) + ", lo_ns=" + std::to_string(p.lo_ns) +
               ", hi_ns=" + std::to_string(p.hi_ns) + ", in_domain=" + (p.in_domain ? "True" : "False") +
               ", source='" + p.source + "'" + (p.build.empty() ? "" : ", build='" + p.build + "'") + ")";
      });

  py::class_<opcast::Predictor>(m, "Predictor")
      .def(py::init<const std::string&>(), py::arg("models_dir"))
      .def(
          "predict",
          [](const opcast::Predictor& p, py::handle q) {
            // JSON text is parsed without the GIL, as is every prediction: threads that share one
            // Predictor run their queries side by side.
            if (py::isinstance<py::str>(q) || py::isinstance<py::bytes>(q)) {
              std::string text = py::isinstance<py::str>(q) ? std::string(utf8_of(q)) : q.cast<std::string>();
              py::gil_scoped_release release;
              return p.predict(opcast::parse_query(text));
            }
            const opcast::Query query = to_query(q);
            py::gil_scoped_release release;
            return p.predict(query);
          },
          py::arg("query"), "Predict one query (dict or JSON string).")
      .def(
          "predict_columns",
          [](const opcast::Predictor& p, py::iterable queries, bool collect_errors) {
            return prediction_columns(p, queries, collect_errors);
          },
          py::arg("queries"), py::arg("collect_errors") = false,
          "Vectorised prediction of an iterable of queries; returns columns as numpy arrays and lists.")
      .def("models",
           [](const opcast::Predictor& p) {
             py::list out;
             for (const auto& info : p.models()) {
               py::dict d;
               d["scope"] = info.scope;
               d["op"] = info.op;
               d["kind"] = info.kind;
               d["dir"] = info.dir;
               d["source"] = info.source;
               d["target"] = info.target;
               d["dataset_hash"] = info.dataset_hash;
               d["members"] = info.members;
               d["memo_programs"] = info.memo_programs;
               out.append(d);
             }
             return out;
           })
      .def("has_model", &opcast::Predictor::has_model, py::arg("op"));
}
