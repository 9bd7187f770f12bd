"""opcast's planner: the plan of least predicted time, by dynamic programming over the op sequence.

Ops are decided in trace order. The state before op j is the placement of every tensor alive then
(made earlier, read by j or later: :meth:`Dataflow.live_before`): it fixes what op j reads, which
options of op j are legal and what they cost, and how much L1 is held while it runs. Two partial plans
that reach the same state can be finished the same ways, so only the cheaper one is kept; the search is
exact while the states fit ``exact_states``. Beyond that it keeps the ``beam_width`` cheapest states
per step (a beam search), and says so (``info["exact"]``).

The live tensors of TTM-R1 and PatchTSMixer are few (at most five: a residual stream, the scaler's
statistics) and most have two placements (DRAM or L1 interleaved: sharding needs tile-aligned dims),
so both models are solved exactly.
"""

from __future__ import annotations

from .costs import TuningProblem
from .planners import Solution


class OpcastPlanner:
    """Least predicted time under ttnn's legality and the L1 bank.

    risk: how strongly the price leans to the more certain of two options (``Choice.price``; 0 prices
    the prediction alone). exact_states: the most states kept before the search turns into a beam of
    ``beam_width`` states.
    """

    name = "opcast"

    def __init__(self, risk: float = 0.05, exact_states: int = 100_000, beam_width: int = 1_000):
        if risk < 0:
            raise ValueError(f"risk must be >= 0, got {risk}")
        if beam_width < 1 or exact_states < beam_width:
            raise ValueError(f"need 1 <= beam_width <= exact_states, got {beam_width} and {exact_states}")
        self.risk, self.exact_states, self.beam_width = risk, exact_states, beam_width

    def plan(self, problem: TuningProblem) -> Solution:
        flow = problem.flow
        states: dict[tuple[int, ...], float] = {(): 0.0}  # live tensors' options -> least price so far
        steps: list[dict[tuple[int, ...], tuple[tuple[int, ...], int]]] = []  # state -> (previous, option)
        exact, most = True, 1
        for j in range(len(problem)):
            live, after = flow.live_before(j), flow.live_before(j + 1)
            where = {p: i for i, p in enumerate(live)}
            sources = [where[p] for p in flow.sources(j)]
            carried = [where.get(p) for p in after]  # None: op j's own output
            reached: dict[tuple[int, ...], float] = {}
            back: dict[tuple[int, ...], tuple[tuple[int, ...], int]] = {}
            for state, price in states.items():
                held = problem.fixed_l1 + sum(problem.resident[p][k] for p, k in zip(live, state))
                combo = tuple(state[i] for i in sources)
                for k in range(len(problem.options[j])):
                    c = problem.choices[j].get((combo, k))
                    if c is None or not c.legal or held + c.l1_peak > problem.l1_limit:
                        continue
                    nxt = tuple(k if i is None else state[i] for i in carried)
                    total = price + c.price(self.risk, problem.dispatch_ns)
                    if nxt not in reached or total < reached[nxt]:
                        reached[nxt], back[nxt] = total, (state, k)
            if not reached:
                raise ValueError(f"no legal plan: op {j} ({problem.names[j]}) has no legal option that fits L1 "
                                 "for any placement of its inputs that the earlier ops allow")
            most = max(most, len(reached))
            if len(reached) > self.exact_states:
                exact = False
                reached = dict(sorted(reached.items(), key=lambda kv: (kv[1], kv[0]))[:self.beam_width])
            states = reached
            steps.append(back)
        state = min(states, key=lambda s: (states[s], s))
        assignment = [0] * len(problem)
        for j in range(len(problem) - 1, -1, -1):
            state, assignment[j] = steps[j][state]
        return Solution(tuple(assignment), {"exact": exact, "most_states": most, "risk": self.risk})
