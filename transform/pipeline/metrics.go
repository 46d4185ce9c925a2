package pipeline

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// registerMetrics registers the metrics of a set of pipelines. They are observed from
// counters the pipelines keep (atomics), so running an event costs no metric calls:
//
//	sluice_pipeline_events_total{pipeline}             events run through the pipeline
//	sluice_pipeline_failures_total{pipeline}           events whose pipeline failed (on_failure or default handling)
//	sluice_pipeline_dropped_total{pipeline}            events dropped
//	sluice_processor_events_total{pipeline,processor,kind}    events a processor ran on (its if true)
//	sluice_processor_failures_total{pipeline,processor,kind}  failures of a processor, its if included
//	sluice_processor_seconds_total{pipeline,processor,kind}   time spent in a processor, its if included (a group's includes its processors')
//	                                                          (measured on one event in 32, counted 32 times)
//	sluice_grok_fallbacks_total{pipeline,processor,tag}       events a grok processor matched with regexp
//	                                                          instead of its compiled matcher (an expression
//	                                                          it cannot compile, or a line over its step budget)
//
// processor is the processor's place in its pipeline ("processors[2]",
// "processors[2].on_failure[0]").
func registerMetrics(meter metric.Meter, set *Set) error {
	counter := func(name, desc, unit string) (metric.Int64ObservableCounter, error) {
		c, err := meter.Int64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		if err != nil {
			return nil, fmt.Errorf("create counter %s: %w", name, err)
		}
		return c, nil
	}
	pEvents, err := counter("sluice_pipeline_events_total", "Events run through a pipeline.", "{event}")
	if err != nil {
		return err
	}
	pFailures, err := counter("sluice_pipeline_failures_total", "Events whose pipeline failed: on_failure or the default failure handling ran.", "{event}")
	if err != nil {
		return err
	}
	pDropped, err := counter("sluice_pipeline_dropped_total", "Events a pipeline dropped (acknowledged, not written).", "{event}")
	if err != nil {
		return err
	}
	sEvents, err := counter("sluice_processor_events_total", "Events a processor ran on (its if condition true).", "{event}")
	if err != nil {
		return err
	}
	sFailures, err := counter("sluice_processor_failures_total", "Failures of a processor, its if condition included.", "{event}")
	if err != nil {
		return err
	}
	sSeconds, err := meter.Float64ObservableCounter("sluice_processor_seconds_total",
		metric.WithDescription("Time spent in a processor, its if condition included (a group's includes its processors'); measured on one event in 32 and counted for 32."), metric.WithUnit("s"))
	if err != nil {
		return fmt.Errorf("create counter sluice_processor_seconds_total: %w", err)
	}

	gFallbacks, err := counter("sluice_grok_fallbacks_total",
		"Events a grok processor ran through the regexp engine instead of its compiled matcher, for at least one pattern: one the matcher cannot compile, or a line over its step budget.", "{event}")
	if err != nil {
		return err
	}

	type observed struct {
		attrs metric.MeasurementOption
		step  *step
	}
	type grokObs struct {
		attrs metric.MeasurementOption
		proc  *grokProc
	}
	var groks []grokObs
	type pipelineObs struct {
		attrs metric.MeasurementOption
		p     *Pipeline
		steps []observed
	}
	var all []pipelineObs
	for _, name := range set.Names() {
		p := set.pipelines[name]
		po := pipelineObs{attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("pipeline", name))), p: p}
		var walk func([]*step)
		walk = func(steps []*step) {
			for _, s := range steps {
				po.steps = append(po.steps, observed{step: s, attrs: metric.WithAttributeSet(attribute.NewSet(
					attribute.String("pipeline", name), attribute.String("processor", s.path), attribute.String("kind", s.kind)))})
				if g, ok := s.proc.(*grokProc); ok {
					groks = append(groks, grokObs{proc: g, attrs: metric.WithAttributeSet(attribute.NewSet(
						attribute.String("pipeline", name), attribute.String("processor", s.path), attribute.String("tag", s.tag)))})
				}
				walk(s.onFailure)
				walk(groupSteps(s))
			}
		}
		walk(p.steps)
		walk(p.onFailure)
		all = append(all, po)
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, po := range all {
			o.ObserveInt64(pEvents, po.p.events.Load(), po.attrs)
			o.ObserveInt64(pFailures, po.p.failures.Load(), po.attrs)
			o.ObserveInt64(pDropped, po.p.dropped.Load(), po.attrs)
			for _, s := range po.steps {
				o.ObserveInt64(sEvents, s.step.events.Load(), s.attrs)
				o.ObserveInt64(sFailures, s.step.failures.Load(), s.attrs)
				o.ObserveFloat64(sSeconds, float64(s.step.nanos.Load())/1e9, s.attrs)
			}
		}
		for _, g := range groks {
			o.ObserveInt64(gFallbacks, g.proc.fallbacks.Load(), g.attrs)
		}
		return nil
	}, pEvents, pFailures, pDropped, sEvents, sFailures, sSeconds, gFallbacks)
	if err != nil {
		return fmt.Errorf("register pipeline metrics: %w", err)
	}
	return nil
}
