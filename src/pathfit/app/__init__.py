"""The application above the library: config files, the objects they describe, the experiment
of ``pathfit run`` and ``pathfit fit``, coverage studies, gradient checks of the built-in models
and the benchmark harness. The library (processes, design, models, estimators, diagnostics)
never imports from here."""
