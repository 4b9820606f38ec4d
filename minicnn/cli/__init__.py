"""The ``minicnn`` command and the pages it writes: the top of the lab.

    main.py            the argument parser and one function per command
    tour.py            ``minicnn tour``: train, test, write tour/index.html
    tour_figures.py    the deconvnet and occlusion figures of the tour
    checkpoint_page.py ``minicnn visualize CKPT``: every figure for a saved model
    report.py          the small HTML writer both pages use
"""
