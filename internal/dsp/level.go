package dsp

import "math"

const (
	// LevelFloor is the lowest level [Level] reports, in dB. Silence reads
	// LevelFloor rather than -Inf so levels can be compared, averaged and
	// encoded as JSON.
	LevelFloor = -120.0

	// FullScaleSineDBm0 is the level in dBm0 of a full-scale sine (0 dBFS),
	// per ITU-T G.711 for mu-law. See [Level].
	FullScaleSineDBm0 = 3.17

	fullScale = 32768.0
)

// Level returns the RMS and peak level of samples in dBFS, each floored at
// [LevelFloor]; an empty frame reads LevelFloor for both. It does not
// allocate.
//
// dBFS follows AES17: 0 dBFS is the level of a sine whose peaks touch full
// scale (±32768), for the RMS as for the peak reading, so a sine reads the
// same on both and a full-scale square wave reads +3.01 dBFS RMS.
//
// dBm0 follows ITU-T G.711: a sine at the codec's full scale is +3.17 dBm0
// (the mu-law figure; A-law's is +3.14), so dBm0 = dBFS + 3.17 and 0 dBm0 is
// a sine of RMS 16078 (peak 22737). The digital milliwatt sequences of G.711
// tables 5 and 6 read 0.0 dBm0 on this scale.
func Level(samples []int16) (rmsDBFS, peakDBFS float64) {
	if len(samples) == 0 {
		return LevelFloor, LevelFloor
	}
	var sum int64
	var peak int32
	for _, s := range samples {
		v := int32(s)
		sum += int64(v * v) // v*v <= 2^30 fits int32
		if v < 0 {
			v = -v
		}
		peak = max(peak, v)
	}
	rms := math.Sqrt(float64(sum) / float64(len(samples)))
	return toDB(rms * math.Sqrt2 / fullScale), toDB(float64(peak) / fullScale)
}

// LevelDBm0 returns the RMS level of samples in dBm0, floored at
// LevelFloor + FullScaleSineDBm0.
func LevelDBm0(samples []int16) float64 {
	rms, _ := Level(samples)
	return DBFSToDBm0(rms)
}

// DBFSToDBm0 converts a level in dBFS to dBm0.
func DBFSToDBm0(dBFS float64) float64 { return dBFS + FullScaleSineDBm0 }

// DBm0ToDBFS converts a level in dBm0 to dBFS.
func DBm0ToDBFS(dBm0 float64) float64 { return dBm0 - FullScaleSineDBm0 }

// SineAmplitude returns the peak amplitude, in sample units, of a sine at
// the level dBm0. It may exceed 32767 for levels above +3.17 dBm0.
func SineAmplitude(dBm0 float64) float64 {
	return fullScale * math.Pow(10, DBm0ToDBFS(dBm0)/20)
}

// RMSAmplitude returns the RMS value, in sample units, of any signal at the
// level dBm0 (a sine or noise).
func RMSAmplitude(dBm0 float64) float64 { return SineAmplitude(dBm0) / math.Sqrt2 }

func toDB(ratio float64) float64 {
	if ratio <= 0 {
		return LevelFloor
	}
	return max(20*math.Log10(ratio), LevelFloor)
}
