"""opcast.train: train: importers, datasets, the mlpack trainer driver, reports."""
