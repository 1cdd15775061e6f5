"""The edges that read and write files: datasets and tables, model files, writes that stay inside
their folder (``files``), folders replaced as a unit (``folders``), ``.npz`` / ``.npy`` headers
checked before the data (``arrays``), and the limits on what a file may ask for (``limits``)."""
