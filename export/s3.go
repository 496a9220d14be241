package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluice-gateway/sluice/policy"
)

// S3 stores batches in an S3 bucket (Amazon S3 or any S3-compatible
// store) and reads them back for verification.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
}

// S3Options tunes the client beyond the configuration.
type S3Options struct {
	// HTTPClient replaces the SDK's HTTP client.
	HTTPClient *http.Client
	// MaxAttempts bounds the SDK's tries per call (its default when 0).
	MaxAttempts int
}

// NewS3 builds the client of exporters.s3. With an endpoint (MinIO,
// Google Cloud Storage, B2 ...) it addresses buckets by path
// (ENDPOINT/BUCKET/KEY), which every S3-compatible store serves; without
// one it talks to Amazon S3. Without access_key_id it takes credentials
// the AWS way (environment, shared files, instance role). Checksums are
// sent and checked only where the S3 API requires them: several
// S3-compatible stores reject the newer default trailers.
func NewS3(ctx context.Context, c *policy.S3Exporter, o S3Options) (*S3, error) {
	if c == nil || c.BucketName == "" {
		return nil, errors.New("exporters.s3: no bucket_name")
	}
	var loadOpts []func(*awsconfig.LoadOptions) error
	loadOpts = append(loadOpts, awsconfig.WithRegion(c.Region))
	if c.AccessKeyID != "" {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.AccessSecret, "")))
	}
	if o.HTTPClient != nil {
		loadOpts = append(loadOpts, awsconfig.WithHTTPClient(o.HTTPClient))
	}
	if o.MaxAttempts > 0 {
		loadOpts = append(loadOpts, awsconfig.WithRetryMaxAttempts(o.MaxAttempts))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("exporters.s3: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if c.Endpoint != "" {
			so.BaseEndpoint = aws.String(c.Endpoint)
			so.UsePathStyle = true
		}
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &S3{client: client, bucket: c.BucketName, prefix: c.Prefix}, nil
}

// Name is the cursor name of the S3 exporter.
func (*S3) Name() string { return "s3" }

// Store puts the batch's object, then its manifest: a manifest names only
// an object that is complete. Storing the same batch again overwrites
// both with the same bytes.
func (s *S3) Store(ctx context.Context, b Batch) error {
	data, sum, err := Encode(b.Records)
	if err != nil {
		return err
	}
	key := ObjectKey(s.prefix, b.First, b.Last, b.Cut)
	m := Manifest{
		Schema: SchemaVersion, Object: key, FirstSeq: b.First, LastSeq: b.Last,
		Records: len(b.Records), Bytes: len(data), SHA256: sum, CutAt: b.Cut.UTC().Format(time.RFC3339Nano),
	}
	for i, r := range b.Records {
		if i == 0 || r.TimeUS < m.FirstTimeUS {
			m.FirstTimeUS = r.TimeUS
		}
		m.LastTimeUS = max(m.LastTimeUS, r.TimeUS)
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := s.put(ctx, key, data, "application/cbor-seq", "zstd"); err != nil {
		return err
	}
	return s.put(ctx, ManifestKey(s.prefix, b.First, b.Last, b.Cut), append(mj, '\n'), "application/json", "")
}

func (s *S3) put(ctx context.Context, key string, data []byte, contentType, encoding string) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(contentType),
	}
	if encoding != "" {
		// Not Content-Encoding: a client that honoured it would hand the
		// reader CBOR whose bytes no longer match the manifest's SHA-256.
		in.Metadata = map[string]string{"compression": encoding}
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("s3 put %s: %w", key, err)
	}
	return nil
}

// ManifestKeys lists the manifests of the batches cut in the hours from
// from's through to's, in key order (which is number order within an
// hour).
func (s *S3) ManifestKeys(ctx context.Context, from, to time.Time) ([]string, error) {
	var keys []string
	start := hourPrefix(s.prefix, from)
	end := hourPrefix(s.prefix, to)
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket:     aws.String(s.bucket),
		Prefix:     aws.String(versionPrefix(s.prefix) + "/"),
		StartAfter: aws.String(strings.TrimSuffix(start, "/")),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3 list: %w", err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if k > end && !strings.HasPrefix(k, end) {
				return keys, nil
			}
			if strings.HasSuffix(k, manifestSuffix) {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// ErrNoObject reports a key the archive does not hold.
var ErrNoObject = errors.New("no such object")

// Get reads one object.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, fmt.Errorf("%s: %w", key, ErrNoObject)
		}
		return nil, fmt.Errorf("s3 get %s: %w", key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, maxObjectBytes))
}

// Prefix is the key prefix objects go under.
func (s *S3) Prefix() string { return s.prefix }
