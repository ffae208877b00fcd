"""The DROO benchmark: binary offloading in a wireless-powered MEC network, its
vectorised subproblem solver (:mod:`.problem`) and the learner that searches its modes
(:mod:`.learner`).

Outside the pure base: it needs scipy (Lambert W, the data set's .mat file) and trains
with torch (the ``train`` extra); the client and the simulator never use it. It shares
only :mod:`edgeoffload.decision.nn` with the rest of the decision engine.
"""
